"""Tiny random-weight diffusers/transformers models saved in a real checkpoint layout, for tests."""

from __future__ import annotations

import json
from pathlib import Path

import torch


def write_clip_tokenizer(folder: Path, max_length: int = 16) -> None:
    """A character-level CLIP BPE tokenizer (no merges) over lowercase letters and a few symbols."""
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    symbols = list("abcdefghijklmnopqrstuvwxyz,.!")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for s in symbols:
        vocab[s] = len(vocab)
        vocab[s + "</w>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=max_length)
    tok.save_pretrained(folder)


def make_tiny_text_prior(folder: Path, image_size: int = 16, seed: int = 0, prediction_type: str = "epsilon") -> Path:
    """unet/ + scheduler/ + text_encoder/ + tokenizer/ with random weights, as a pixel-space text prior."""
    from diffusers import DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    folder = Path(folder)
    write_clip_tokenizer(folder / "tokenizer")
    n_vocab = len(json.loads((folder / "tokenizer" / "vocab.json").read_text()))
    text_config = CLIPTextConfig(vocab_size=n_vocab, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                                 num_attention_heads=4, max_position_embeddings=16, bos_token_id=0, eos_token_id=1,
                                 pad_token_id=1)
    CLIPTextModel(text_config).save_pretrained(folder / "text_encoder")
    unet = UNet2DConditionModel(
        sample_size=image_size, in_channels=3, out_channels=3, layers_per_block=1, block_out_channels=(16, 32),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8,
    )
    unet.save_pretrained(folder / "unet")
    DDPMScheduler(num_train_timesteps=1000, prediction_type=prediction_type).save_pretrained(folder / "scheduler")
    return folder
