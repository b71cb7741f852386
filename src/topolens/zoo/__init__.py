"""Model zoos: populations of networks trained from a hyperparameter grid.

A zoo is the raw material of generalization-gap prediction
(:mod:`topolens.generalization`): many models whose train/test gap differs because
their depth, width, regularisation, optimiser, data-set size or label noise differ.

>>> from topolens.zoo import load_grid, train_zoo, Zoo          # doctest: +SKIP
>>> zoo = train_zoo("grid.yaml", "my-zoo", n_jobs=2)             # doctest: +SKIP
>>> zoo.gaps()                                                  # doctest: +SKIP

:mod:`~topolens.zoo.grid` defines the grid schema, :mod:`~topolens.zoo.train` the
architectures and the training loop, :mod:`~topolens.zoo.store` the folder format
(atomic records, resumable training, validated loading) and :mod:`~topolens.zoo.pgdl`
reads PGDL task folders and imports them into a zoo (:func:`import_pgdl`).
"""

from .grid import DATASETS, HYPERPARAMETERS, MAX_CONFIGS, Grid, ModelConfig, load_grid
from .pgdl import PGDLTask, import_pgdl, load_pgdl_task
from .store import ModelRecord, Zoo, load_stored_data, read_record, train_zoo, zoo_data
from .train import (
    ZooData,
    build_model,
    check_model_memory,
    estimate_model_memory,
    evaluate_model,
    load_zoo_data,
    train_model,
    training_subset,
)

__all__ = [
    "DATASETS",
    "HYPERPARAMETERS",
    "MAX_CONFIGS",
    "Grid",
    "ModelConfig",
    "ModelRecord",
    "PGDLTask",
    "Zoo",
    "ZooData",
    "build_model",
    "check_model_memory",
    "estimate_model_memory",
    "evaluate_model",
    "import_pgdl",
    "load_grid",
    "load_pgdl_task",
    "load_stored_data",
    "load_zoo_data",
    "read_record",
    "train_model",
    "train_zoo",
    "training_subset",
    "zoo_data",
]
