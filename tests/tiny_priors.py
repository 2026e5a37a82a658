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


def write_latent_unet_and_vae(folder: Path, latent_size: int, in_channels: int, cross_attention_dim: int) -> None:
    """unet/ (4 output channels over latent_size² latents) and vae/ (x2 downsampling, 4 latent channels)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    UNet2DConditionModel(
        sample_size=latent_size, in_channels=in_channels, out_channels=4, layers_per_block=1, block_out_channels=(16, 32),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=cross_attention_dim, attention_head_dim=8, norm_num_groups=8,
    ).save_pretrained(folder / "unet")
    AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2, norm_num_groups=4,
        sample_size=2 * latent_size, scaling_factor=0.18215,
    ).save_pretrained(folder / "vae")


def make_tiny_stable_diffusion(folder: Path, latent_size: int = 8, seed: int = 0) -> Path:
    """Stable Diffusion's layout with random weights: a 4-channel latent UNet, a VAE (x2 downsampling, so
    16x16 images), a CLIP text encoder and tokenizer, a DDPM scheduler, model_index.json."""
    folder = make_tiny_text_prior(folder, image_size=latent_size, seed=seed)
    torch.manual_seed(seed + 1)
    write_latent_unet_and_vae(folder, latent_size, in_channels=4, cross_attention_dim=32)
    (folder / "model_index.json").write_text(json.dumps({
        "_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"], "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "scheduler": ["diffusers", "DDPMScheduler"]}))
    return folder


def write_t5_tokenizer(folder: Path, max_length: int = 16) -> None:
    """A word-level fast tokenizer over a tiny vocabulary, saved as a T5-style tokenizer folder."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = "<pad> </s> <unk> a an the red green blue cube sphere cone front side back overhead view ,".split()
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=max_length)
    fast.save_pretrained(folder)


def make_tiny_deepfloyd_if(folder: Path, image_size: int = 16, seed: int = 0) -> Path:
    """DeepFloyd IF stage I's layout with random weights: a pixel-space UNet that also predicts a variance
    (6 output channels) and projects T5 states (encoder_hid_dim), a T5 encoder and tokenizer, a scheduler."""
    from diffusers import DDPMScheduler, UNet2DConditionModel
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(seed)
    folder = Path(folder)
    write_t5_tokenizer(folder / "tokenizer")
    T5EncoderModel(T5Config(vocab_size=32, d_model=24, d_kv=8, d_ff=32, num_layers=2, num_heads=3)).save_pretrained(
        folder / "text_encoder")
    UNet2DConditionModel(
        sample_size=image_size, in_channels=3, out_channels=6, layers_per_block=1, block_out_channels=(16, 32),
        down_block_types=("SimpleCrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "SimpleCrossAttnUpBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn", cross_attention_dim=16, attention_head_dim=8, norm_num_groups=8,
        encoder_hid_dim=24, encoder_hid_dim_type="text_proj", addition_embed_type="text", addition_embed_type_num_heads=2,
        resnet_time_scale_shift="scale_shift",
    ).save_pretrained(folder / "unet")
    DDPMScheduler(num_train_timesteps=1000, prediction_type="epsilon", variance_type="learned_range").save_pretrained(
        folder / "scheduler")
    (folder / "model_index.json").write_text(json.dumps({
        "_class_name": "IFPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
        "text_encoder": ["transformers", "T5EncoderModel"], "tokenizer": ["transformers", "T5Tokenizer"],
        "scheduler": ["diffusers", "DDPMScheduler"]}))
    return folder


def make_tiny_zero123(folder: Path, latent_size: int = 8, seed: int = 0) -> Path:
    """Zero-1-to-3's diffusers layout with random weights: an 8-channel-input latent UNet, a VAE, a CLIP image
    encoder with projection, the camera projection (cc_projection) and a scheduler."""
    from diffusers import DDPMScheduler
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from threestudio_lite.priors.zero123 import CCProjection

    torch.manual_seed(seed)
    folder = Path(folder)
    write_latent_unet_and_vae(folder, latent_size, in_channels=8, cross_attention_dim=16)
    CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8,
        projection_dim=12)).save_pretrained(folder / "image_encoder")
    CCProjection(in_channel=12 + 4, out_channel=16).save_pretrained(folder / "cc_projection")
    DDPMScheduler(num_train_timesteps=1000, prediction_type="epsilon").save_pretrained(folder / "scheduler")
    (folder / "model_index.json").write_text(json.dumps({
        "_class_name": "Zero1to3StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"], "image_encoder": ["transformers", "CLIPVisionModelWithProjection"],
        "cc_projection": ["diffusers_modules.local.pipeline_zero1to3", "CCProjection"],
        "scheduler": ["diffusers", "DDPMScheduler"]}))
    return folder
