import re
from pathlib import Path

import pytest

from model_code.presets import get_preset
from model_code.training.hyperparameters import (
    SAGEMAKER_CHECKPOINT_DIR,
    Hyperparameters,
    UsageError,
    check_hyperparameters,
    parse_training_run,
    preset_for_run,
    training_settings,
)


@pytest.fixture
def train_dir(tmp_path):
    path = tmp_path / "train"
    path.mkdir()
    return path


def test_cli_flags_and_sagemaker_names_set_the_same_values(train_dir, tmp_path):
    base = ["--preset", "circrna", "--train", str(train_dir), "--model-dir", str(tmp_path / "m")]
    dashed = parse_training_run(
        [*base, "--learning-rate", "0.001", "--batch-size", "8", "--epochs", "2"], environ={}
    )
    snake = parse_training_run(
        [*base, "--learning_rate", "1e-3", "--batch_size", "8", "--epochs", "2.0"], environ={}
    )
    assert dashed.hyperparameters == snake.hyperparameters
    assert dashed.hyperparameters == Hyperparameters(learning_rate=0.001, batch_size=8, epochs=2.0)
    assert dashed.model_dir == tmp_path / "m"
    assert dashed.backbone is None
    assert dashed.test is None


def test_paths_default_to_sagemaker_environment(train_dir, tmp_path):
    test_dir = tmp_path / "test"
    test_dir.mkdir()
    environ = {
        "SM_CHANNEL_TRAIN": str(train_dir),
        "SM_CHANNEL_TEST": str(test_dir),
        "SM_MODEL_DIR": str(tmp_path / "model"),
        "SM_OUTPUT_DATA_DIR": str(tmp_path / "output"),
        "SM_CHECKPOINT_DIR": str(tmp_path / "ckpt"),
    }
    run = parse_training_run(["--preset", "circrna"], environ=environ)
    assert (run.train, run.test, run.model_dir) == (train_dir, test_dir, tmp_path / "model")
    assert (run.output_data_dir, run.checkpoint_dir) == (tmp_path / "output", tmp_path / "ckpt")
    assert run.hyperparameters == Hyperparameters()
    # flags win over the environment
    other = tmp_path / "other-model"
    assert (
        parse_training_run(["--preset", "p", "--model_dir", str(other)], environ=environ).model_dir == other
    )


def test_sagemaker_checkpoint_folder_is_the_default_when_it_exists(train_dir, tmp_path):
    argv = ["--preset", "p", "--train", str(train_dir), "--model-dir", str(tmp_path / "m")]
    assert parse_training_run(argv, environ={}).checkpoint_dir is None
    run = parse_training_run(argv, environ={}, sagemaker_checkpoints_exist=True)
    assert run.checkpoint_dir == SAGEMAKER_CHECKPOINT_DIR


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--batchsize", "8"], "unknown hyperparameter(s) --batchsize"),
        (["--epochs", "two"], "argument --epochs: 'two' is not a number"),
        (["--batch-size", "0"], "argument --batch-size/--batch_size: '0' must be >= 1"),
        (["--batch_size", "1.5"], "'1.5' is not an integer"),
        (["--learning-rate", "-1"], "'-1' must be > 0"),
        (["--learning-rate", "nan"], "'nan' is not a finite number"),
        (["--validation-fraction", "1"], "'1' must be < 1"),
        (["--warmup-ratio", "-0.1"], "'-0.1' must be >= 0"),
    ],
)
def test_bad_hyperparameters_are_errors_naming_them(train_dir, tmp_path, extra, message):
    argv = ["--preset", "p", "--train", str(train_dir), "--model-dir", str(tmp_path / "m"), *extra]
    with pytest.raises(UsageError) as error:
        parse_training_run(argv, environ={})
    assert message in str(error.value)


def test_missing_inputs_are_errors_naming_them(tmp_path):
    model = ["--model-dir", str(tmp_path / "m")]
    with pytest.raises(UsageError, match="--preset"):
        parse_training_run(["--train", str(tmp_path), *model], environ={})
    with pytest.raises(UsageError, match="pass --train DIR or set SM_CHANNEL_TRAIN"):
        parse_training_run(["--preset", "p", *model], environ={})
    with pytest.raises(UsageError, match=r"argument --train: .*absent does not exist"):
        parse_training_run(["--preset", "p", "--train", str(tmp_path / "absent"), *model], environ={})
    with pytest.raises(UsageError, match=r"absent \(from SM_CHANNEL_TRAIN\) does not exist"):
        parse_training_run(["--preset", "p", *model], environ={"SM_CHANNEL_TRAIN": str(tmp_path / "absent")})
    with pytest.raises(UsageError, match="pass --model-dir DIR or set SM_MODEL_DIR"):
        parse_training_run(["--preset", "p", "--train", str(tmp_path)], environ={})
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(UsageError, match="is not a directory"):
        parse_training_run(
            ["--preset", "p", "--train", str(tmp_path), "--model-dir", str(a_file)], environ={}
        )


def test_every_hyperparameter_has_both_spellings(train_dir, tmp_path):
    base = ["--preset", "p", "--train", str(train_dir), "--model-dir", str(tmp_path / "m")]
    for name in Hyperparameters.__dataclass_fields__:
        for flag in {f"--{name}", f"--{name.replace('_', '-')}"}:
            value, parsed = {
                "warmup_ratio": ("0.5", 0.5),
                "validation_fraction": ("0.5", 0.5),
                "test_fraction": ("0.2", 0.2),
                "mixed_precision": ("BF16", "bf16"),
                "gradient_checkpointing": ("true", True),
            }.get(name, ("3", 3))
            run = parse_training_run([*base, flag, value], environ={})
            assert getattr(run.hyperparameters, name) == parsed, flag


def test_paths_are_path_objects(train_dir, tmp_path):
    run = parse_training_run(
        ["--preset", "p", "--train", str(train_dir), "--model-dir", str(tmp_path / "m"), "--backbone", "x/y"],
        environ={},
    )
    assert isinstance(run.train, Path)
    assert run.backbone == "x/y"


def test_given_values_override_the_preset_defaults_and_the_rest_stay():
    defaults = get_preset("circrna").training
    settings = training_settings(Hyperparameters(batch_size=8, learning_rate=0.01), defaults)
    assert (settings.batch_size, settings.learning_rate) == (8, 0.01)
    assert settings.eval_batch_size == 16
    assert (settings.epochs, settings.weight_decay, settings.seed) == (
        defaults.epochs,
        defaults.weight_decay,
        defaults.seed,
    )
    assert settings.validation_fraction == defaults.validation_fraction
    assert settings.max_steps is None and settings.gradient_accumulation_steps == 1


def test_model_size_and_window_change_the_preset_they_apply_to():
    preset = preset_for_run("circrna", Hyperparameters(hidden_size=48, num_attention_heads=3, max_length=99))
    assert (preset.kmer.hidden_size, preset.kmer.num_attention_heads, preset.max_length) == (48, 3, 99)
    assert preset.kmer.k == get_preset("circrna").kmer.k
    assert preset_for_run("entailment", Hyperparameters(max_length=64)).max_length == 64
    assert get_preset("circrna").max_length != 99  # the registered preset itself is untouched


def test_the_statistics_branch_and_head_width_are_hyperparameters_and_zero_turns_them_off():
    preset = preset_for_run("circrna", Hyperparameters(statistics_hidden_size=0, head_hidden_size=16))
    assert (preset.kmer.statistics_hidden_size, preset.kmer.head_hidden_size) == (0, 16)
    check_hyperparameters("circrna", {"statistics_hidden_size": "0", "head_hidden_size": "0"})
    with pytest.raises(UsageError, match=re.escape("'-1' must be >= 0")):
        check_hyperparameters("circrna", {"head_hidden_size": "-1"})
    with pytest.raises(UsageError, match="whose size is fixed"):
        check_hyperparameters("entailment", {"statistics_hidden_size": "8"})


def test_a_deployments_hyperparameters_are_checked_as_the_training_job_parses_them():
    check_hyperparameters("circrna", {"learning_rate": "3e-4", "batch-size": "16", "hidden_size": "32"})
    for values, message in (
        ({"batchsize": "16"}, "unknown hyperparameter(s) --batchsize; known: batch_size,"),
        ({"epochs": "many"}, "argument --epochs: 'many' is not a number"),
        ({"hidden_size": "30", "num_attention_heads": "4"}, "must be a multiple of"),
    ):
        with pytest.raises(UsageError, match=re.escape(message)):
            check_hyperparameters("circrna", values)
    with pytest.raises(UsageError, match="whose size is fixed"):
        check_hyperparameters("entailment", {"hidden_size": "32"})


def test_precision_checkpointing_and_save_steps_are_hyperparameters_with_preset_defaults():
    protein = training_settings(Hyperparameters(), get_preset("protein-localization").training)
    assert (protein.mixed_precision, protein.gradient_checkpointing, protein.save_steps) == (
        "auto",
        True,
        None,
    )
    circrna = training_settings(Hyperparameters(), get_preset("circrna").training)
    assert (circrna.mixed_precision, circrna.gradient_checkpointing) == ("auto", False)
    given = training_settings(
        Hyperparameters(mixed_precision="fp16", gradient_checkpointing=False, save_steps=200),
        get_preset("protein-localization").training,
    )
    assert (given.mixed_precision, given.gradient_checkpointing, given.save_steps) == ("fp16", False, 200)
    check_hyperparameters(
        "protein-localization",
        {"mixed_precision": "bf16", "gradient_checkpointing": "false", "save_steps": "50"},
    )
    for values, message in (
        ({"mixed_precision": "fp8"}, "'fp8' is not one of no, bf16, fp16, auto"),
        ({"gradient_checkpointing": "maybe"}, "'maybe' is not a boolean"),
        ({"save_steps": "0"}, "must be >= 1"),
        ({"validation_fraction": "0.5", "test_fraction": "0.5"}, "leave no training data"),
    ):
        with pytest.raises(UsageError, match=re.escape(message)):
            check_hyperparameters("protein-localization", values)
    with pytest.raises(UsageError, match="gradient_checkpointing: the kmer-transformer model"):
        check_hyperparameters("circrna", {"gradient_checkpointing": "true"})


@pytest.mark.parametrize(
    ("preset", "limit"),
    [
        ("entailment", 512),
        ("aptamer-pairs", 512),
        ("medical-specialty", 512),
        ("protein-localization", 40000),
    ],
)
def test_max_length_beyond_the_backbones_positions_fails_the_check_synth_runs(preset, limit):
    check_hyperparameters(preset, {"max_length": str(limit)})
    with pytest.raises(UsageError, match=f"max_length {limit + 1} exceeds the {limit} positions of "):
        check_hyperparameters(preset, {"max_length": str(limit + 1)})


def test_the_kmer_model_sizes_its_positions_from_max_length():
    # Built from the preset, the k-mer model has as many positions as max_length asks for.
    from model_code.modeling.factory import build_model

    preset = preset_for_run("circrna", Hyperparameters(max_length=700, hidden_size=8, num_attention_heads=2))
    model = build_model(preset, labels=["circRNA", "lncRNA"])
    assert model.config.max_position_embeddings >= 700
