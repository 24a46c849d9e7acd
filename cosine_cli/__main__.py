"""``python -m cosine_cli`` runs the ``cosloss`` command."""

from .cli import main

if __name__ == "__main__":
    main()
