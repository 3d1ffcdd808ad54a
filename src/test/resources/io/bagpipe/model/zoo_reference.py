"""PyTorch reference of Bagpipe's MIL zoo poolings, written from the papers' formulas.

Reads parameters and a bag of features (one tensor a line: name TAB shape TAB values), runs one
training-mode forward pass and the loss, backward, and writes logits, weights, loss and every
parameter's gradient (name TAB values). Used by ZooReferenceTest; float32 throughout.

usage: zoo_reference.py CASES, a file with one case a line, its fields separated by spaces:
       POOLING IN OUT CLASSES LABEL CLAM_HIDDEN K BAG_WEIGHT SUBTYPING
       MAX_INSTANCE_WEIGHT T_DIM T_HEADS T_LANDMARKS T_ITERS T_KERNEL DSMIL_Q
(one process for all cases: importing torch is the slow part)
"""
import math
import re
import sys

import torch
import torch.nn.functional as F

def run(args):
    global pooling, src, dst, classes, label, clam_hidden, k_sample, bag_weight, subtyping, mi_weight
    global t_dim, t_heads, t_landmarks, t_iters, t_kernel, dsmil_q, P, DJL, h
    (pooling, src, dst, classes, label, clam_hidden, k_sample, bag_weight, subtyping, mi_weight,
     t_dim, t_heads, t_landmarks, t_iters, t_kernel, dsmil_q) = args
    classes, label, k_sample = int(classes), int(label), int(k_sample)
    bag_weight, mi_weight = float(bag_weight), float(mi_weight)
    subtyping = subtyping == "true"
    t_dim, t_heads, t_landmarks, t_iters, t_kernel = map(int, (t_dim, t_heads, t_landmarks, t_iters, t_kernel))
    dsmil_q = int(dsmil_q)

    P = {}
    DJL = {}  # our key -> the DJL name, under which gradients are reported
    for line in open(src):
        name, shape, values = line.rstrip("\n").split("\t")
        shape = [int(s) for s in shape.split(",")]
        t = torch.tensor([float(v) for v in values.split(" ")], dtype=torch.float32).reshape(shape)
        # DJL names child blocks NNname: 02pooling_01fc_weight -> pooling.fc.weight
        key = ".".join(re.sub(r"^\d\d", "", part) for part in name.split("_"))
        P[key] = t.requires_grad_(name != "features")
        DJL[key] = name
    h = P.pop("features")


    def linear(x, prefix, bias=True):
        return F.linear(x, P[prefix + ".weight"], P[prefix + ".bias"] if bias else None)


    def ce(logits, targets):
        return F.cross_entropy(logits, torch.as_tensor(targets, dtype=torch.long).reshape(-1))


    def gated(x, prefix):
        a = torch.tanh(linear(x, prefix + ".V"))
        b = torch.sigmoid(linear(x, prefix + ".U"))
        return linear(a * b, prefix + ".w")  # (N,K)


    def clam(multi):
        hp = F.relu(linear(h, "pooling.fc"))
        A_raw = gated(hp, "pooling").t()  # (K,N) as CLAM transposes it
        A = F.softmax(A_raw, dim=1)
        M = A @ hp  # (K,H)
        if multi:
            logits = (M * P["head.weight"]).sum(1).reshape(1, -1) + P["head.bias"].reshape(1, -1)
            weights = A.mean(0)
        else:
            logits = linear(M, "head")
            weights = A.reshape(-1)
        n = h.shape[0]
        k = min(k_sample, n)
        total = 0.0
        for c in range(classes):
            a_c = A[c if multi else 0]
            classifier = lambda x: linear(x, "pooling.inst%d" % c)
            if c == label:
                top = torch.topk(a_c, k)[1]
                bottom = torch.topk(-a_c, k)[1]
                inst = classifier(torch.cat([h_sel(hp, top), h_sel(hp, bottom)]))
                total = total + ce(inst, [1] * k + [0] * k)
            elif subtyping:
                top = torch.topk(a_c, k)[1]
                total = total + ce(classifier(h_sel(hp, top)), [0] * k)
        if subtyping:
            total = total / classes
        loss = bag_weight * ce(logits, [label]) + (1 - bag_weight) * total
        return logits, weights, loss


    def h_sel(x, idx):
        return torch.index_select(x, 0, idx)


    def max_instance():
        s = gated(h, "pooling.att")
        a = F.softmax(s, dim=0)
        logits = linear((a * h).sum(0, keepdim=True), "head")
        c = linear(h, "pooling.inst")
        loss = ce(logits, [label]) + mi_weight * ce(c.max(0, keepdim=True)[0], [label])
        return logits, a.reshape(-1), loss


    def dsmil():
        c = linear(h, "pooling.inst")  # instance classifier (N,C)
        q_net = lambda x: torch.tanh(linear(F.relu(linear(x, "pooling.q1")), "pooling.q2"))
        Q = q_net(h)
        _, m_indices = torch.sort(c, 0, descending=True)
        m_feats = torch.index_select(h, 0, m_indices[0, :])
        q_max = q_net(m_feats)
        A = F.softmax(Q @ q_max.t() / math.sqrt(Q.shape[1]), 0)
        B = A.t() @ h  # (C,D)
        conv_w = P["head.weight"].reshape(classes, classes, -1)  # Conv1d(C, C, kernel D)
        logits = F.conv1d(B.unsqueeze(0), conv_w, P["head.bias"]).reshape(1, -1)
        loss = 0.5 * ce(logits, [label]) + 0.5 * ce(c.max(0, keepdim=True)[0], [label])
        return logits, A.mean(1), loss


    def pinv(x, iters):
        abs_x = x.abs()
        col = abs_x.sum(-1)
        row = abs_x.sum(-2)
        z = x.transpose(-1, -2) / (torch.max(col) * torch.max(row))
        eye = torch.eye(x.shape[-1]).unsqueeze(0)
        for _ in range(iters):
            xz = x @ z
            z = 0.25 * z @ (13 * eye - (xz @ (15 * eye - (xz @ (7 * eye - xz)))))
        return z


    def nystrom(x, prefix):
        n, dim = x.shape
        m, heads = t_landmarks, t_heads
        dh = dim // heads
        if n % m:
            x = F.pad(x, (0, 0, m - n % m, 0))
        q, k, v = F.linear(x, P[prefix + ".qkv.weight"]).chunk(3, dim=-1)
        q, k, v = (t.reshape(t.shape[0], heads, dh).transpose(0, 1) for t in (q, k, v))
        q = q * dh ** -0.5
        l = math.ceil(n / m)
        q_l = q.reshape(heads, m, l, dh).sum(2) / l
        k_l = k.reshape(heads, m, l, dh).sum(2) / l
        a1 = (q @ k_l.transpose(-1, -2)).softmax(-1)
        a2 = (q_l @ k_l.transpose(-1, -2)).softmax(-1)
        a3 = (q_l @ k.transpose(-1, -2)).softmax(-1)
        out = (a1 @ pinv(a2, t_iters)) @ (a3 @ v)
        out = out + F.conv2d(v.unsqueeze(0), P[prefix + ".res.weight"], padding=(t_kernel // 2, 0), groups=heads)[0]
        out = out.transpose(0, 1).reshape(-1, dim)
        return linear(out, prefix + ".out")[-n:]


    def layer_norm(x, prefix):
        return F.layer_norm(x, (x.shape[-1],), P[prefix + ".gamma"], P[prefix + ".beta"], 1e-5)


    def transmil():
        x = F.relu(linear(h, "pooling.fc"))
        n = x.shape[0]
        side = int(math.ceil(math.sqrt(n)))
        x = torch.cat([x, x[: side * side - n]], 0)
        x = torch.cat([P["pooling.cls"], x], 0)
        x = x + nystrom(layer_norm(x, "pooling.norm1"), "pooling.attn1")
        cls, feat = x[:1], x[1:]
        img = feat.t().reshape(1, t_dim, side, side)
        conv = lambda name, kk: F.conv2d(img, P["pooling.%s.weight" % name], P["pooling.%s.bias" % name],
                                         padding=kk // 2, groups=t_dim)
        y = conv("ppeg7", 7) + img + conv("ppeg5", 5) + conv("ppeg3", 3)
        x = torch.cat([cls, y.flatten(2)[0].t()], 0)
        x = x + nystrom(layer_norm(x, "pooling.norm2"), "pooling.attn2")
        emb = layer_norm(x, "pooling.norm")[:1]
        logits = linear(emb, "head")
        return logits, torch.full((n,), 1.0 / n), ce(logits, [label])


    logits, weights, loss = {
        "clam-sb": lambda: clam(False),
        "clam-mb": lambda: clam(True),
        "max-instance": max_instance,
        "dsmil": dsmil,
        "transmil": transmil,
    }[pooling]()
    loss.backward()
    with open(dst, "w") as f:
        def put(name, t):
            f.write(name + "\t" + " ".join("%.9e" % v for v in t.detach().reshape(-1).tolist()) + "\n")
        put("logits", logits)
        put("weights", weights)
        put("loss", loss)
        for key, t in P.items():
            put("grad:" + DJL[key], t.grad if t.grad is not None else torch.zeros_like(t))


for case in open(sys.argv[1]):
    if case.strip():
        run(case.split())
