"""Hugging Face ``transformers``: ``model.generate(...)`` runs the forward itself; models built
with ``<Class>.from_pretrained``; its optimizers and learning-rate schedulers."""

from __future__ import annotations

from .records import Generate, LrScheduler, Optimizer, PretrainedModels, Record

RECORDS: list[Record] = [
    Generate("transformers.GenerationMixin.generate"),
    # ``AutoModel``, ``AutoModelForCausalLM``, ``BertModel``, ``GPT2LMHeadModel``, ``VisionEncoderDecoderModel``.
    PretrainedModels(
        "transformers",
        model_endings=("Model", "LMHeadModel"),
        model_infix="For",
        not_model_endings=("Tokenizer", "TokenizerFast", "Processor", "FeatureExtractor", "ImageProcessor", "Config", "Pipeline"),
    ),
    *(Optimizer(q) for q in (
        "transformers.AdamW", "transformers.Adafactor", "transformers.optimization.AdamW", "transformers.optimization.Adafactor",
    )),
    *(LrScheduler(q) for q in (
        "transformers.get_scheduler", "transformers.get_linear_schedule_with_warmup",
        "transformers.get_cosine_schedule_with_warmup", "transformers.get_constant_schedule_with_warmup",
        "transformers.optimization.get_scheduler", "transformers.optimization.get_linear_schedule_with_warmup",
    )),
]
