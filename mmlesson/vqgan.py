"""VQGAN, in three modules read in this order, and one name to reach them all (``mmlesson.vqgan.<name>``):

- vqgan_model.py: the model, compatible with taming-transformers' official checkpoints (building blocks,
  vector quantization, ``VQGANConfig``, ``VQGAN``, ``load_vqgan``);
- vqgan_quality.py: the patch discriminator (the GAN in VQGAN) and what a reconstruction keeps (PSNR,
  codebook use, every color, the strict measure);
- vqgan_training.py: the tiny VQGANs for Shapes: each bundled one's recipe and the training loop.

Notebook 04 and the package import these names from here; the modules themselves never import this one.
"""
from .vqgan_model import (BUNDLED_VQGANS, CODEBOOK_LOOKUPS, OFFICIAL_CHECKPOINTS, TINY_8X8_CHECKPOINT,
                          TINY_8X8_COSINE_CHECKPOINT, TINY_CHECKPOINT, TINY_NODISC_CHECKPOINT, VQGAN, VQGAN_CONFIGS,
                          AttnBlock, Decoder, Downsample, Encoder, Level, Middle, ResnetBlock, Upsample,
                          VectorQuantizer, VQGANConfig, check_state_dict, from_vqgan_range, group_norm, load_vqgan,
                          lookup_codes, nearest_codes, read_state_dict, straight_through_quantize, swish,
                          to_vqgan_range, vqgan_from_state)
from .vqgan_quality import (EVAL_SEED, FOREGROUND_LEVEL, INTERIOR_LEVEL, TOKENIZER_SEED, PatchDiscriminator,
                            adaptive_gan_weight, clip_shape_reading, color_fidelity, hinge_discriminator_loss, psnr_db,
                            reconstruct_fresh_shapes, reconstruction_metrics, shapes_pixels,
                            strict_reconstruction_rate, tokenizer_report)
from .vqgan_training import (TINY_RECIPES, TinyTrainingConfig, init_codebook_from_latents, pixel_weights,
                             restart_dead_codes, train_tiny_vqgan)

__all__ = ["BUNDLED_VQGANS", "CODEBOOK_LOOKUPS", "OFFICIAL_CHECKPOINTS", "TINY_8X8_CHECKPOINT",
           "TINY_8X8_COSINE_CHECKPOINT", "TINY_CHECKPOINT", "TINY_NODISC_CHECKPOINT",
           "VQGAN", "VQGAN_CONFIGS", "AttnBlock", "Decoder", "Downsample", "Encoder", "Level", "Middle", "ResnetBlock",
           "Upsample", "VectorQuantizer", "VQGANConfig", "check_state_dict", "from_vqgan_range", "group_norm",
           "load_vqgan", "lookup_codes", "nearest_codes", "read_state_dict", "straight_through_quantize", "swish",
           "to_vqgan_range", "vqgan_from_state", "EVAL_SEED", "FOREGROUND_LEVEL", "INTERIOR_LEVEL",
           "PatchDiscriminator", "adaptive_gan_weight", "color_fidelity", "hinge_discriminator_loss", "psnr_db",
           "reconstruct_fresh_shapes", "reconstruction_metrics", "shapes_pixels", "strict_reconstruction_rate",
           "TOKENIZER_SEED", "clip_shape_reading", "tokenizer_report",
           "TINY_RECIPES", "TinyTrainingConfig", "init_codebook_from_latents", "pixel_weights", "restart_dead_codes",
           "train_tiny_vqgan"]
