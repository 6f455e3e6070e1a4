"""The README.md dataset card of a Hugging Face datasets export."""
from __future__ import annotations

import json

FORMAT_NOTES = {
    "ebaluatoia": (
        "The public columns of the original study's dataset: `id, username, user_language, user_education, "
        "timestamp, model_a, model_b, conv_a, conv_b, winner, winner_content, winner_language`. "
        "`conv_a`/`conv_b` include each side's system prompt as the first message when it had one."
    ),
    "lmsys": (
        "The Chatbot Arena conversations schema: `question_id, model_a, model_b, winner, judge, "
        "conversation_a, conversation_b, turn, anony, language, tstamp` (no system messages)."
    ),
    "dpo": (
        "TRL's conversational preference format (`prompt`, `chosen`, `rejected`), one row per decided "
        "dimension, with `id`, `dimension` and `margin` (dimensions for the chosen side minus those "
        "against it, divided by 3)."
    ),
}


def _size_category(rows: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < limit:
            return label
    return "1M<n<10M"


def dataset_card(manifest: dict) -> str:
    counts, filters = manifest["counts"], manifest["filters"]
    licence = manifest["license"] or "other"
    models = counts["models"]
    front_matter = "\n".join([
        "---",
        f"license: {licence}",
        "language:",
        "- eu",
        "pretty_name: Basque LLM arena human preferences",
        "size_categories:",
        f"- {_size_category(counts['rows'])}",
        "task_categories:",
        "- text-generation",
        "tags:",
        "- human-preference",
        "- chatbot-arena",
        f"- {manifest['format']}",
        "---",
    ])
    excluded = manifest["exclusions"]
    lines = [
        front_matter,
        "",
        "# Basque LLM arena human preferences",
        "",
        "Pairwise human preference votes on Basque answers of anonymous language models, exported from the arena.",
        "",
        f"- **Format:** `{manifest['format']}`. {FORMAT_NOTES[manifest['format']]}",
        f"- **Rows:** {counts['rows']:,} from {counts['votes']:,} votes by {counts['participants']:,} participants.",
        f"- **Dates (UTC):** {counts['first_vote_at'] or '-'} to {counts['last_vote_at'] or '-'}.",
        f"- **Models ({len(models)}):** {', '.join(models) or '-'}.",
        f"- **Flagged votes matching the filters:** {excluded['flagged_votes_matching_filters']:,} "
        f"({'included, listed in flags.jsonl' if excluded['flagged_votes_included'] else 'left out'}); "
        f"by reason: {json.dumps(excluded['by_reason'], ensure_ascii=False)}.",
        f"- **Licence:** {licence}.",
        f"- **Code version:** `{manifest['code_version']}`.",
        "",
        "## Filters",
        "",
        "```json",
        json.dumps(filters, indent=2, ensure_ascii=False),
        "```",
        "",
        "## Privacy",
        "",
        "Volunteers appear only as `" + manifest["participant_hash"]["scheme"] + "` "
        f"(salt id `{manifest['participant_hash']['salt_id']}`). No names, e-mail addresses, usernames, IP "
        "addresses or free-text profile fields are exported. Volunteers agreed that their prompts may be "
        "published; prompts may still contain personal data they typed themselves.",
        "",
        "## Loading",
        "",
        "```python",
        "from datasets import load_from_disk",
        "dataset = load_from_disk(\"path/to/this/folder\")",
        "```",
        "",
        "`manifest.json` lists the SHA-256 of every data file.",
        "",
    ]
    return "\n".join(lines)
