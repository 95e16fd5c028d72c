#!/usr/bin/env python3
"""PyTorch + transformers throughput of CLIP ViT-L/14 (random weights, fp16) in the same run
as softtext's criterion benches, so the ratio is honest. Run on the GPU machine:

    python3 tools/torch_encode_bench.py [--attn sdpa,eager] [--batches 32,64,128,256]

Prints images/s and texts/s per attention implementation and batch size.
"""
import argparse
import time

import torch
from transformers import CLIPConfig, CLIPModel


def vit_l_14() -> CLIPConfig:
    return CLIPConfig(
        text_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                         num_attention_heads=12, projection_dim=768, eos_token_id=2),
        vision_config=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                           num_attention_heads=16, image_size=224, patch_size=14,
                           projection_dim=768),
        projection_dim=768,
    )


def timed(fn, repeats=10):
    fn()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--attn", default="sdpa,eager")
    ap.add_argument("--batches", default="32,64,128,256")
    ap.add_argument("--text-batches", default="256,1024")
    ap.add_argument("--dtype", default="float16")
    args = ap.parse_args()
    dtype = getattr(torch, args.dtype)
    for attn in args.attn.split(","):
        model = CLIPModel._from_config(vit_l_14(), attn_implementation=attn, torch_dtype=dtype)
        model = model.cuda().eval()
        with torch.inference_mode():
            for b in map(int, args.batches.split(",")):
                px = torch.randn(b, 3, 224, 224, device="cuda", dtype=dtype)
                t = timed(lambda: model.get_image_features(pixel_values=px))
                print(f"torch {attn} {args.dtype} images batch {b}: {b / t:,.0f} images/s")
            for b in map(int, args.text_batches.split(",")):
                ids = torch.full((b, 77), 0, dtype=torch.long, device="cuda")
                ids[:, 0] = 49406
                ids[:, 1:9] = torch.randint(320, 4000, (b, 8), device="cuda")
                ids[:, 9] = 49407
                t = timed(lambda: model.get_text_features(input_ids=ids))
                print(f"torch {attn} {args.dtype} texts batch {b}: {b / t:,.0f} texts/s")
        del model
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
