"""flows/settings.RunSettings: the one set of run settings the CLI, the flows and the served triggers pass down."""
from __future__ import annotations

import pytest

from typeprior.flows.config import FlowConfigError, TrainingJob, defaults
from typeprior.flows.settings import RunSettings
from typeprior.flows.training import make_spec


def test_unset_values_fall_to_the_one_place_of_each_default(tmp_path) -> None:
    settings = RunSettings()
    assert settings.priors_choice() == defaults()["train"]["priors"]
    spec = make_spec(tmp_path / "w.duckdb", "demo", settings, out=tmp_path / "out")
    assert (spec.backbone, spec.seed, spec.variant) == (defaults()["train"]["backbone"], defaults()["train"]["seed"],
                                                       defaults()["train"]["variant"])
    given = make_spec(tmp_path / "w.duckdb", "demo", RunSettings(backbone="tiny-random", seed=7, w=0.5, epochs=2,
                                                                 training={"lr_new": 1e-3}), out=tmp_path / "o2")
    assert (given.backbone, given.seed, given.w, given.epochs, given.training) == ("tiny-random", 7, 0.5, 2,
                                                                                  {"lr_new": 1e-3})


@pytest.mark.parametrize("values, named", [
    ({"epochs": "many"}, "run setting epochs"),
    ({"batch_size": [2]}, "run setting batch_size"),
    ({"training": "fast"}, "run setting training"),
    ({"colour": "red"}, "run setting colour"),
])
def test_bad_values_are_one_line_naming_the_setting(values: dict, named: str) -> None:
    with pytest.raises(FlowConfigError, match=named) as info:
        RunSettings.of(**values)
    assert "\n" not in str(info.value)


def test_ranges_are_checked_once_where_the_values_are_used(tmp_path) -> None:
    with pytest.raises(FlowConfigError, match="relation weight w must be a finite number"):
        make_spec(tmp_path / "w.duckdb", "demo", RunSettings(w=float("nan")), out=tmp_path / "o")


def test_a_trigger_passes_only_what_it_sets_and_the_new_build() -> None:
    job = TrainingJob(corpus="demo", variant="full", train_file="t.jsonl", epochs=3, training={"lr_new": 1e-3})
    params = job.parameters(priors=12, scheme="demo")
    assert params == {"corpus": "demo", "variant": "full", "train_file": "t.jsonl",
                      "settings": {"epochs": 3, "training": {"lr_new": 1e-3}, "priors": "12", "scheme": "demo"}}
    assert RunSettings(**params["settings"]).priors_choice() == "12"  # what the train flow rebuilds from it
    assert RunSettings.of(epochs=3).but(seed=5, w=None).given() == {"epochs": 3, "seed": 5}
