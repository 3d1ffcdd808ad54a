"""Reference PyTorch module for a model exported by `bagpipe export`.

An export folder holds model.safetensors, config.json and this file. BagpipeMil
rebuilds the model from config.json, loads the weights with
load_state_dict(strict=True) and runs the forward pass as Bagpipe's validation
does: BatchNorm in eval mode (running statistics), no gradients.

    import torch
    from bagpipe_mil import BagpipeMil
    model = BagpipeMil.from_export("export/")
    probabilities, attention = model(bag)   # bag: uint8 (N,H,W,3) RGB patches

A uint8 bag (N,H,W,3) is scaled and normalised as Bagpipe's workers do
(x * 1/(255 std) - mean/std, per channel, in float32). A float bag (N,3,H,W)
is taken as already normalised. A slide's probabilities are the mean of its
bags' (model.predict_slide). Command line, for raw uint8 NHWC files (one
JSON line of probabilities and patch weights per bag):

    python3 bagpipe_mil.py EXPORT_DIR BAG.u8 PATCHES [EXPORT_DIR BAG.u8 PATCHES ...]
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F
from torch import nn

_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
           "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
           "BOOL": torch.bool}


def load_safetensors(path):
    """The tensors of a safetensors file by name: the safetensors package when present, else a plain
    reader (little-endian hosts, as the format's data is little-endian)."""
    try:
        from safetensors.torch import load_file
    except ImportError:
        load_file = None
    if load_file is not None:
        return load_file(path)
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = _DTYPES[info["dtype"]]
        flat = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype) if end > begin else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(info["shape"])
    return tensors


def mil_cnn_s():
    """MIL-CNN-S: three convolutions with ReLU, two 2x2 max pools, global average pool: 64-d."""
    return nn.Sequential(
        nn.Conv2d(3, 16, 5, 2, 2), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten())


class BasicBlock(nn.Module):
    def __init__(self, inp, width, out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        self.downsample = _downsample(inp, out, stride)

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    def __init__(self, inp, width, out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, width, 1, 1, 0, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, 1, 0, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.downsample = _downsample(inp, out, stride)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


def _downsample(inp, out, stride):
    if stride == 1 and inp == out:
        return None
    return nn.Sequential(nn.Conv2d(inp, out, 1, stride, 0, bias=False), nn.BatchNorm2d(out))


class ResNet(nn.Module):
    """torchvision's ResNet-18 / ResNet-50 (v1.5) without fc, with torchvision's parameter names."""

    def __init__(self, bottleneck, layers):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        block = Bottleneck if bottleneck else BasicBlock
        inp = 64
        for stage, (width, count) in enumerate(zip((64, 128, 256, 512), layers)):
            out = width * 4 if bottleneck else width
            blocks = []
            for b in range(count):
                blocks.append(block(inp, width, out, 2 if stage > 0 and b == 0 else 1))
                inp = out
            setattr(self, "layer%d" % (stage + 1), nn.Sequential(*blocks))
        self.features = inp

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


class AttentionPooling(nn.Module):
    """a = softmax over patches of w(tanh(V h)); gated: w(tanh(V h) * sigmoid(U h))."""

    def __init__(self, features, hidden, gated):
        super().__init__()
        self.V = nn.Linear(features, hidden)
        if gated:
            self.U = nn.Linear(features, hidden)
        self.w = nn.Linear(hidden, 1)
        self.gated = gated

    def forward(self, h):
        t = torch.tanh(self.V(h))
        if self.gated:
            t = t * torch.sigmoid(self.U(h))
        a = torch.softmax(self.w(t), dim=0)  # (N,1)
        return (a * h).sum(0, keepdim=True), a.reshape(-1)


class MeanPooling(nn.Module):
    def forward(self, h):
        n = h.shape[0]
        return h.mean(0, keepdim=True), torch.full((n,), 1.0 / n, dtype=h.dtype)


class MaxPooling(nn.Module):
    """Feature-wise maximum; a patch weighs the share of features whose maximum it holds (first on ties)."""

    def forward(self, h):
        n = h.shape[0]
        weights = F.one_hot(h.argmax(0), n).to(h.dtype).mean(0)
        return h.max(0, keepdim=True).values, weights


class ClamPooling(nn.Module):
    """CLAM-SB / CLAM-MB without dropout: h' = ReLU(fc h); raw scores w(tanh(V h') * sigmoid(U h')),
    one column (SB) or one per class (MB); a = softmax over patches; embedding a^T h' flattened.
    Patch weights: a (SB) or the mean of the branches' a (MB). The instance classifiers inst.c
    serve training only; they are loaded so that the state dict is complete."""

    def __init__(self, features, hidden, attention_dim, classes, multi_branch):
        super().__init__()
        self.fc = nn.Linear(features, hidden)
        self.V = nn.Linear(hidden, attention_dim)
        self.U = nn.Linear(hidden, attention_dim)
        self.w = nn.Linear(attention_dim, classes if multi_branch else 1)
        self.inst = nn.ModuleList([nn.Linear(hidden, 2) for _ in range(classes)])
        self.multi_branch = multi_branch

    def forward(self, h):
        hp = F.relu(self.fc(h))
        a = torch.softmax(self.w(torch.tanh(self.V(hp)) * torch.sigmoid(self.U(hp))), dim=0)  # (N,K)
        m = a.t() @ hp  # (K,H)
        return m.reshape(1, -1), a.mean(1) if self.multi_branch else a.reshape(-1)


class PerClassHead(nn.Module):
    """CLAM-MB's bag classifiers: logit_c = weight_c . M_c + bias_c, one Linear(H, 1) per class."""

    def __init__(self, classes, hidden):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(classes, hidden))
        self.bias = nn.Parameter(torch.zeros(classes))

    def forward(self, z):
        m = z.reshape(self.weight.shape[0], -1)
        return ((m * self.weight).sum(1) + self.bias).reshape(1, -1)


class MaxInstancePooling(nn.Module):
    """Gated attention (att) plus an instance classifier (inst) that serves the training loss only."""

    def __init__(self, features, attention_dim, classes):
        super().__init__()
        self.att = AttentionPooling(features, attention_dim, True)
        self.inst = nn.Linear(features, classes)

    def forward(self, h):
        return self.att(h)


class DsmilPooling(nn.Module):
    """DSMIL without dropout: instance classifier c = inst(h) (N,C); the critical instance of class j
    is the first patch with the largest c[:, j]; queries q = tanh(q2(ReLU(q1 h))); attention
    A = softmax over patches of q q_crit^T / sqrt(q) (N,C); embedding (A^T h) flattened (1,C*D).
    Patch weights: the mean of A's columns. Also returns the per-class maximum of c, which the
    prediction averages with the bag classifier's (DSMIL's inference)."""

    def __init__(self, features, query_dim, classes):
        super().__init__()
        self.inst = nn.Linear(features, classes)
        self.q1 = nn.Linear(features, query_dim)
        self.q2 = nn.Linear(query_dim, query_dim)
        self.query_dim = query_dim

    def forward(self, h):
        c = self.inst(h)
        q = torch.tanh(self.q2(F.relu(self.q1(h))))
        critical = q[c.argmax(0)]  # (C,q)
        a = torch.softmax(q @ critical.t() / torch.sqrt(torch.tensor(float(self.query_dim))), dim=0)
        return (a.t() @ h).reshape(1, -1), a.mean(1), c.max(0).values.reshape(1, -1)


def _pinv(x, iterations):
    """The iterative Moore-Penrose pseudo-inverse of the nystrom-attention package."""
    abs_x = x.abs()
    z = x.transpose(-1, -2) / (torch.max(abs_x.sum(-1)) * torch.max(abs_x.sum(-2)))
    eye = torch.eye(x.shape[-1], dtype=x.dtype).unsqueeze(0)
    for _ in range(iterations):
        xz = x @ z
        z = 0.25 * z @ (13 * eye - (xz @ (15 * eye - (xz @ (7 * eye - xz)))))
    return z


class NystromAttention(nn.Module):
    """Nystrom self-attention over (n, dim) tokens: zero padding in front to a multiple of the
    landmarks, landmarks as means of consecutive groups, pseudo-inverse, a depth-wise residual
    convolution over v, output projection, padding dropped."""

    def __init__(self, dim, heads, landmarks, iterations, kernel):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim)
        self.res = nn.Conv2d(heads, heads, (kernel, 1), padding=(kernel // 2, 0), groups=heads, bias=False)
        self.heads, self.landmarks, self.iterations = heads, landmarks, iterations

    def forward(self, x):
        n, dim = x.shape
        m, heads = self.landmarks, self.heads
        dh = dim // heads
        if n % m:
            x = F.pad(x, (0, 0, m - n % m, 0))
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = (t.reshape(t.shape[0], heads, dh).transpose(0, 1) for t in (q, k, v))
        q = q * dh ** -0.5
        group = math.ceil(n / m)
        q_l = q.reshape(heads, m, group, dh).sum(2) / group
        k_l = k.reshape(heads, m, group, dh).sum(2) / group
        a1 = (q @ k_l.transpose(-1, -2)).softmax(-1)
        a2 = (q_l @ k_l.transpose(-1, -2)).softmax(-1)
        a3 = (q_l @ k.transpose(-1, -2)).softmax(-1)
        out = (a1 @ _pinv(a2, self.iterations)) @ (a3 @ v)
        out = out + self.res(v.unsqueeze(0))[0]
        return self.out(out.transpose(0, 1).reshape(-1, dim))[-n:]


class TransMilPooling(nn.Module):
    """TransMIL without dropout: tokens ReLU(fc h), repeated to a square count, a class token in
    front; Nystrom layer, PPEG (depth-wise 7x7 + 5x5 + 3x3 over the square image of tokens), Nystrom
    layer, LayerNorm; the class token is the embedding. No per-patch weights: uniform 1/N."""

    def __init__(self, features, dim, heads, landmarks, iterations, kernel):
        super().__init__()
        self.fc = nn.Linear(features, dim)
        self.cls = nn.Parameter(torch.zeros(1, dim))
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn1 = NystromAttention(dim, heads, landmarks, iterations, kernel)
        self.ppeg7 = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.ppeg5 = nn.Conv2d(dim, dim, 5, padding=2, groups=dim)
        self.ppeg3 = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.attn2 = NystromAttention(dim, heads, landmarks, iterations, kernel)
        self.norm = nn.LayerNorm(dim, eps=1e-5)
        self.dim = dim

    def forward(self, h):
        x = F.relu(self.fc(h))
        n = x.shape[0]
        side = int(math.ceil(math.sqrt(n)))
        x = torch.cat([self.cls, x, x[: side * side - n]], 0)
        x = x + self.attn1(self.norm1(x))
        img = x[1:].t().reshape(1, self.dim, side, side)
        img = img + self.ppeg7(img) + self.ppeg5(img) + self.ppeg3(img)
        x = torch.cat([x[:1], img.flatten(2)[0].t()], 0)
        x = x + self.attn2(self.norm2(x))
        return self.norm(x)[:1], torch.full((n,), 1.0 / n, dtype=h.dtype)


class BagpipeMil(nn.Module):
    """Encoder, MIL pooling and linear head as config.json describes them."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        encoder = config["encoder"]
        if encoder == "mil-cnn-s":
            self.encoder, features = mil_cnn_s(), 64
        elif encoder in ("resnet18", "resnet50"):
            bottleneck = encoder == "resnet50"
            self.encoder = ResNet(bottleneck, (3, 4, 6, 3) if bottleneck else (2, 2, 2, 2))
            features = self.encoder.features
        else:
            raise ValueError("unknown encoder %r" % encoder)
        pooling = config["pooling"]
        if pooling in ("attention", "gated-attention"):
            self.pooling = AttentionPooling(features, config["attention_dim"], pooling == "gated-attention")
        elif pooling == "mean":
            self.pooling = MeanPooling()
        elif pooling == "max":
            self.pooling = MaxPooling()
        elif pooling in ("clam-sb", "clam-mb"):
            multi = pooling == "clam-mb"
            hidden = config["hidden_dim"]
            self.pooling = ClamPooling(features, hidden, config["attention_dim"], config["classes"], multi)
            features = hidden
        elif pooling == "max-instance":
            self.pooling = MaxInstancePooling(features, config["attention_dim"], config["classes"])
        elif pooling == "transmil":
            t = config["transmil"]
            self.pooling = TransMilPooling(features, t["dim"], t["heads"], t["landmarks"], t["pinv_iterations"],
                                           t["residual_kernel"])
            features = t["dim"]
        elif pooling == "dsmil":
            self.pooling = DsmilPooling(features, config["query_dim"], config["classes"])
            features = features * config["classes"]
        else:
            raise ValueError("unknown pooling %r" % pooling)
        if pooling == "clam-mb":
            self.head = PerClassHead(config["classes"], features)
        else:
            self.head = nn.Linear(features, config["classes"])
        mean = torch.tensor(config["input"]["mean"], dtype=torch.float32)
        std = torch.tensor(config["input"]["std"], dtype=torch.float32)
        scale = torch.tensor(1.0, dtype=torch.float32) / (torch.tensor(255.0, dtype=torch.float32) * std)
        self.register_buffer("scale", scale.reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("shift", (-mean / std).reshape(1, 3, 1, 1), persistent=False)

    @classmethod
    def from_export(cls, folder):
        """The model of an export folder, weights loaded strictly, in eval mode."""
        with open(os.path.join(folder, "config.json")) as f:
            model = cls(json.load(f))
        model.load_state_dict(load_safetensors(os.path.join(folder, "model.safetensors")), strict=True)
        return model.eval()

    def preprocess(self, bag):
        """uint8 (N,H,W,3) RGB to the normalised float32 (N,3,H,W) that the encoder sees."""
        if bag.dim() != 4 or bag.shape[3] != 3:
            raise ValueError("a uint8 bag must be (N,H,W,3), got %s" % (tuple(bag.shape),))
        return bag.permute(0, 3, 1, 2).to(torch.float32).contiguous() * self.scale + self.shift

    def forward(self, bag):
        """(class probabilities (classes,), patch weights (N,)) of one bag."""
        x = self.preprocess(bag) if bag.dtype == torch.uint8 else bag
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError("a float bag must be normalised (N,3,H,W), got %s" % (tuple(x.shape),))
        with torch.no_grad():
            h = self.encoder(x).flatten(1)
            pooled = self.pooling(h)
            z, weights = pooled[0], pooled[1]
            probabilities = torch.softmax(self.head(z), dim=1)[0]
            if len(pooled) > 2:  # DSMIL: the mean of the bag's and the max instance's probabilities
                probabilities = 0.5 * probabilities + 0.5 * torch.softmax(pooled[2], dim=1)[0]
            return probabilities, weights

    def predict_slide(self, bags):
        """The mean class probabilities over a slide's bags, as Bagpipe's slide-level metrics use."""
        return torch.stack([self(bag)[0] for bag in bags]).mean(0)


def main(argv):
    """Prints one JSON line of probabilities and weights per EXPORT_DIR BAG.u8 PATCHES triple."""
    if len(argv) < 4 or (len(argv) - 1) % 3 != 0:
        sys.exit("usage: python3 bagpipe_mil.py EXPORT_DIR BAG.u8 PATCHES [EXPORT_DIR BAG.u8 PATCHES ...]"
                 "  (raw uint8 NHWC RGB bytes)")
    for i in range(1, len(argv), 3):
        model = BagpipeMil.from_export(argv[i])
        side = model.config["patch_size"]
        patches = int(argv[i + 2])
        with open(argv[i + 1], "rb") as f:
            raw = f.read()
        if len(raw) != patches * side * side * 3:
            sys.exit("%s holds %d bytes, not %d patches of %dx%dx3" % (argv[i + 1], len(raw), patches, side, side))
        bag = torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(patches, side, side, 3)
        probabilities, weights = model(bag)
        print(json.dumps({"probabilities": probabilities.tolist(), "weights": weights.tolist()}))


if __name__ == "__main__":
    main(sys.argv)
