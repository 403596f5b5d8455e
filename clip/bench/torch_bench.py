"""ViT-B/32 (random weights) on PyTorch open_clip: the side of the comparison that
clip/bench/run.sh measures against the Rust bench (`cargo bench -p clip --bench encode`).

    /work/venv-clip/bin/python clip/bench/torch_bench.py make DIR   # weights + inputs
    /work/venv-clip/bin/python clip/bench/torch_bench.py time DIR   # prints JSON figures

`make` writes DIR/vit_b32.safetensors (open_clip names, f32, seeded random init with
QuickGELU as OpenAI's weights use), DIR/pixels.safetensors (a batch of 32 normalised
images) and DIR/reference.safetensors (PyTorch's features for both, for a parity check).
"""

import json
import os
import sys
import time

import torch
from safetensors.torch import load_file, save_file

import open_clip

BATCH = 32
QUERY = "a photo of a dog playing in the snow"


def model():
    torch.manual_seed(0)
    m, _, _ = open_clip.create_model_and_transforms("ViT-B-32-quickgelu", pretrained=None)
    return m.eval()


def make(out):
    os.makedirs(out, exist_ok=True)
    m = model()
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, os.path.join(out, "vit_b32.safetensors"))
    g = torch.Generator().manual_seed(1)
    pixels = torch.randn(BATCH, 3, 224, 224, generator=g)
    ids = open_clip.get_tokenizer("ViT-B-32")([QUERY])
    save_file({"pixels": pixels, "ids": ids.to(torch.int32)}, os.path.join(out, "pixels.safetensors"))
    with torch.no_grad():
        ref = {"image_features": m.encode_image(pixels[:4]), "text_features": m.encode_text(ids)}
    save_file(ref, os.path.join(out, "reference.safetensors"))


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), sum(times) / len(times)


def timing(out):
    m = model()
    m.load_state_dict(load_file(os.path.join(out, "vit_b32.safetensors")))
    inputs = load_file(os.path.join(out, "pixels.safetensors"))
    pixels, ids = inputs["pixels"], inputs["ids"].long()
    with torch.inference_mode():
        m.encode_image(pixels)  # warm-up
        best, mean = best_of(lambda: m.encode_image(pixels), 5)
        m.encode_text(ids)
        text_best, text_mean = best_of(lambda: m.encode_text(ids), 20)
    print(json.dumps({
        "backend": f"torch {torch.__version__} cpu, {torch.get_num_threads()} threads",
        "image_batch": BATCH,
        "image_best_s": best, "image_mean_s": mean,
        "images_per_s_best": BATCH / best,
        "text_query_best_ms": text_best * 1e3, "text_query_mean_ms": text_mean * 1e3,
    }, indent=1))


if __name__ == "__main__":
    {"make": make, "time": timing}[sys.argv[1]](sys.argv[2])
