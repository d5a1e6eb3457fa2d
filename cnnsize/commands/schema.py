"""`cnnsize schema`: print the spec format's JSON Schema (for editors and other validators)."""

from __future__ import annotations

import typer


def schema() -> None:
    """Print the JSON Schema of the spec format, generated from cnnsize's own models.

    Editors with the YAML language server check and complete a spec whose first line is
    `# yaml-language-server: $schema=<path or URL of the schema>`.
    """
    from cnnsize.spec_schema import schema_text

    typer.echo(schema_text(), nl=False)
