"""openrft: self-hosted reinforcement fine-tuning that speaks OpenAI's RFT API."""

__version__ = "0.1.0"
