"""The run settings every flow, served trigger and CLI command passes down: how each model of a run trains.

One object instead of the ten parameters each flow used to repeat (where files go, the warehouse, models_dir and
reports_dir, stay flow parameters beside it). What is left unset falls to one place each:
flows/defaults.yaml (`train`: backbone, priors, seed), the backbone's recipe in model/training.yaml and
model/additions.yaml. A flow takes it as its `settings` parameter (a mapping on `prefect deployment run
-p settings='{"epochs": 3}'`); make_spec turns it into a run's TrainSpec.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .config import FlowConfigError, defaults


class RunSettings(BaseModel):
    """Backbone, priors, recipe and model settings of the models a flow trains."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)

    # Types only: the ranges are checked once, where the values are used (TrainSpec for w, TrainingConfig for
    # the recipe, ModelSettings for model settings), so every route reports them with the same words.

    backbone: str | None = None
    priors: str | None = Field(None, description="a build id, latest, auto or none (None: flows/defaults.yaml)")
    w: float | None = Field(None, description="relation-loss weight (None: the variant's)")
    scheme: str | None = None
    seed: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    device: str | None = None
    training: dict[str, Any] = Field(default_factory=dict, description="model/training.yaml keys")
    model: dict[str, Any] = Field(default_factory=dict, description="model/additions.yaml keys, word_shape, ...")

    @field_validator("priors", mode="before")
    @classmethod
    def _build_id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @classmethod
    def of(cls, **values: Any) -> RunSettings:
        """Settings from keyword values (None values dropped); a bad value is one FlowConfigError line."""
        try:
            return cls(**{k: v for k, v in values.items() if v is not None})
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "settings"
            raise FlowConfigError(f"run setting {where}: {first['msg']} (got {first.get('input')!r})") from None

    def priors_choice(self) -> str:
        """The priors asked for, else flows/defaults.yaml's `train.priors`."""
        return self.priors or str(defaults()["train"]["priors"])

    def given(self) -> dict[str, Any]:
        """Only what was set: a trigger's parameters, a run's record of what its caller asked for."""
        return self.model_dump(exclude_defaults=True)

    def but(self, **changes: Any) -> RunSettings:
        """A copy with some values replaced (checked like new settings)."""
        return RunSettings.of(**{**self.model_dump(), **changes})
