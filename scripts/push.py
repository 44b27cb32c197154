"""Upload a run's model/ (weights + the model card with the run's evidence) to the Hugging Face Hub.

    python scripts/push.py <run dir> <user/repo> [--private]      # = make push RUN=<run dir> REPO=<user/repo>

The folder is uploaded as saved (huggingface_hub's upload_folder), so the card keeps the section embtune added;
sentence-transformers' own push_to_hub would write a fresh card from the model's metadata instead. Needs a token
(`huggingface-cli login` or HF_TOKEN).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("repo", help="user/name on the Hub")
    parser.add_argument("--private", action="store_true")
    args = parser.parse_args()
    model = args.run_dir / "model"
    if not (model / "README.md").is_file():
        print(
            f"error: {model} holds no saved model with a card (a finished run with save_model=true?)", file=sys.stderr
        )
        return 2
    if "/" not in args.repo:
        print(f"error: REPO={args.repo!r}: give it as <user or org>/<name>", file=sys.stderr)
        return 2
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        api.create_repo(args.repo, private=args.private, exist_ok=True, repo_type="model")
        info = api.upload_folder(
            folder_path=str(model), repo_id=args.repo, repo_type="model", commit_message=f"embtune: {args.run_dir.name}"
        )
    except Exception as e:  # noqa: BLE001 - any Hub failure (offline, auth, network) is one line for the user
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        print(f"error: upload to {args.repo} failed ({type(e).__name__}: {first})", file=sys.stderr)
        return 1
    print(f"uploaded {model} to https://huggingface.co/{args.repo} ({info})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
