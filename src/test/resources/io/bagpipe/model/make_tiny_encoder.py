#!/usr/bin/python3
"""Writes tiny-encoder.pt (a TorchScript conv net: (N,3,H,W) -> (N,6)) and the
output PyTorch gives for a fixed input, which TorchScriptEncoderTest compares
against DJL's. Run once with Debian's /usr/bin/python3 (torch 1.13); the tests
do not need python."""
import torch
import torch.nn as nn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.fc = nn.Linear(4, 6)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        h = h.mean(dim=(2, 3))
        return self.fc(h)


torch.manual_seed(7)
s = torch.jit.script(Tiny().eval())
s.save("tiny-encoder.pt")
idx = torch.arange(2 * 3 * 16 * 16, dtype=torch.float32).reshape(2, 3, 16, 16)
x = (torch.remainder(idx, 17) - 8) / 8
with torch.no_grad():
    y = s(x)
with open("tiny-encoder-expected.txt", "w") as f:
    f.write("# torch %s: tiny-encoder.pt output (2x6, row-major) for the (2,3,16,16) input"
            " x[i] = ((i %% 17) - 8) / 8, i the row-major index\n" % torch.__version__)
    for v in y.flatten().tolist():
        f.write(repr(v) + "\n")
