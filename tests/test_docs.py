"""docs/spec.md documents every kind and every field."""

from pathlib import Path

from cnnsize.kinds import KINDS

DOC = (Path(__file__).resolve().parent.parent / "docs" / "spec.md").read_text()


def test_every_kind_and_field_is_documented():
    missing = [
        f"{name}.{field}"
        for name, cls in KINDS.items()
        for field in ["", *(info.alias or key for key, info in cls.model_fields.items())]
        if f"`{field or name}`" not in DOC
    ]
    assert missing == []
