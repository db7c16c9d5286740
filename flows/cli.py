"""The `typeprior` command-line program: one Typer app with a sub-app per area."""
from __future__ import annotations

import typer

from .commands import data, kb, model, pipeline, sql, warehouse_import

app = typer.Typer(
    name="typeprior",
    help="Generative NER with relation attention and knowledge-base type attention.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data.app.command("import")(warehouse_import.import_corpus)
app.add_typer(data.app, name="data", help="Read, convert, inspect and import corpora.")
app.add_typer(sql.export_app, name="warehouse", help="Export the warehouse for readers elsewhere.")
app.add_typer(kb.app, name="kb", help="Build and inspect knowledge-base type priors.")
app.registered_commands += sql.app.registered_commands
app.registered_commands += model.app.registered_commands
app.registered_commands += pipeline.app.registered_commands


def main() -> None:
    app()


if __name__ == "__main__":
    main()
