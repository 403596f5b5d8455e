"""ViT-B/32 (random weights) on PyTorch open_clip: the side of the comparison that
clip/bench/run.sh measures against the Rust bench (`cargo bench -p clip --bench encode`).

    /work/venv-clip/bin/python clip/bench/torch_bench.py make DIR   # weights + inputs
    /work/venv-clip/bin/python clip/bench/torch_bench.py time DIR   # prints JSON figures
    python3 clip/bench/torch_bench.py time DIR cuda 32,256          # on a GPU, other batches

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


def timing(out, device="cpu", batches=str(BATCH)):
    m = model()
    m.load_state_dict(load_file(os.path.join(out, "vit_b32.safetensors")))
    m = m.to(device)
    inputs = load_file(os.path.join(out, "pixels.safetensors"))
    pixels, ids = inputs["pixels"].to(device), inputs["ids"].long().to(device)

    def sync():
        if device != "cpu":
            torch.cuda.synchronize()

    figures = {"backend": f"torch {torch.__version__} {device}, {torch.get_num_threads()} threads"}
    with torch.inference_mode():
        for batch in [int(b) for b in batches.split(",")]:
            images = pixels.repeat((batch + BATCH - 1) // BATCH, 1, 1, 1)[:batch]
            m.encode_image(images)  # warm-up
            sync()
            best, mean = best_of(lambda: (m.encode_image(images), sync()), 5)
            figures[f"image_batch_{batch}"] = {
                "best_s": best, "mean_s": mean, "images_per_s_best": batch / best}
        m.encode_text(ids)
        sync()
        text_best, text_mean = best_of(lambda: (m.encode_text(ids), sync()), 20)
    figures.update({"text_query_best_ms": text_best * 1e3, "text_query_mean_ms": text_mean * 1e3})
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    {"make": make, "time": timing}[sys.argv[1]](*sys.argv[2:])
