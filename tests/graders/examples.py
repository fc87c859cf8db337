"""Grader JSON as people write it: OpenAI's docs and cookbook shapes, and real-world variants."""

from __future__ import annotations

from typing import Any

PYTHON_SOURCE = """
from rapidfuzz import fuzz, utils

def grade(sample, item) -> float:
    output_text = sample["output_text"]
    reference = item["reference_answer"]
    return fuzz.WRatio(output_text, reference, processor=utils.default_process) / 100.0
"""

EXACT = {
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.reference}}",
    "operation": "eq",
}
"""Exact match of the output against `item.reference`: the grader most tests start from."""
STRING_CHECK = {
    "type": "string_check",
    "name": "compliant",
    "input": "{{ sample.output_json.compliant }}",
    "reference": "{{ item.compliant }}",
    "operation": "eq",
}
TEXT_SIMILARITY = {
    "type": "text_similarity",
    "name": "explanation",
    "input": "{{ sample.output_json.explanation }}",
    "reference": "{{ item.explanation }}",
    "evaluation_metric": "fuzzy_match",
    "pass_threshold": 0.8,
}
SCORE_MODEL_COOKBOOK = {
    "type": "score_model",
    "name": "gpt41_score_model_1",
    "input": [
        {"role": "system", "content": "You are an expert medical grader..."},
        {
            "role": "user",
            "content": "Reference Answer: {{item.reference_answer}}. "
            "Model's Answer: {{sample.output_text}}",
        },
    ],
    "pass_threshold": 0.75,
    "model": "gpt-4.1-2025-04-14",
    "range": [0, 1],
    "sampling_params": {"seed": 42, "temperature": 0},
}
LABEL_MODEL_GUIDE = {
    "type": "label_model",
    "name": "sentiment",
    "model": "gpt-4o-2024-08-06",
    "input": [
        {"role": "developer", "content": "Classify the sentiment of the answer."},
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Answer: {{ sample.output_text }}"}],
        },
    ],
    "labels": ["positive", "neutral", "negative"],
    "passing_labels": ["positive"],
    "sampling_params": {"max_tokens": 100, "top_p": 1, "seed": 7, "reasoning_effort": "low"},
}
PYTHON_COOKBOOK = {
    "type": "python",
    "name": "clinical_phrase_grader",
    "image_tag": "2025-05-08",
    "source": PYTHON_SOURCE,
}
MULTI_COOKBOOK = {
    "type": "multi",
    "graders": {
        "clinical_phrase": {
            "name": "clinical_phrase_grader",
            "image_tag": "2025-05-08",
            "type": "python",
            "source": PYTHON_SOURCE,
        },
        "clinical_phrase_binary": {
            "type": "string_check",
            "name": "binary",
            "input": "{{sample.output_text}}",
            "reference": "{{item.reference_answer}}",
            "operation": "eq",
        },
    },
    "calculate_output": "0.85 * clinical_phrase + 0.15 * clinical_phrase_binary",
}
MULTI_SECURITY = {
    "type": "multi",
    "name": "security_review",
    "graders": {"compliant": STRING_CHECK, "explanation": TEXT_SIMILARITY},
    "calculate_output": "0.5 *compliant+0.5*explanation",
}
SCORE_MODEL_MULTIMODAL = {
    "type": "score_model",
    "name": "image_judge",
    "model": "o4-mini-2025-04-16",
    "input": [
        {
            "role": "user",
            "type": "message",
            "content": [
                {
                    "type": "input_text",
                    "text": "Does the answer describe the image? {{sample.output_text}}",
                },
                {"type": "input_image", "image_url": "{{item.image_url}}", "detail": "low"},
                {
                    "type": "input_audio",
                    "input_audio": {"data": "{{item.audio_clip_b64}}", "format": "wav"},
                },
            ],
        }
    ],
    "range": [-1, 1],
    "sampling_params": {"reasoning_effort": "medium", "max_completions_tokens": 2048},
}
NO_NAMES = {
    "type": "multi",
    "graders": {"a": {"type": "python", "source": "def grade(sample, item):\n    return 1\n"}},
    "calculate_output": "a",
}

ALL: dict[str, dict[str, Any]] = {
    "string_check": STRING_CHECK,
    "text_similarity": TEXT_SIMILARITY,
    "score_model_cookbook": SCORE_MODEL_COOKBOOK,
    "label_model_guide": LABEL_MODEL_GUIDE,
    "python_cookbook": PYTHON_COOKBOOK,
    "multi_cookbook": MULTI_COOKBOOK,
    "multi_security": MULTI_SECURITY,
    "score_model_multimodal": SCORE_MODEL_MULTIMODAL,
    "no_names": NO_NAMES,
}
