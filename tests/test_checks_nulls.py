"""Missing values as real CSVs write them (NA, N/A, NaN, null, ...): checks, --infer, drift and null_values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowtide.checks import check_file
from flowtide.config import NULL_VALUES, parse_config
from flowtide.errors import ConfigError
from flowtide.project import Project

from .conftest import run_cli
from .test_checks import by_rule, make_project

# the first rows of palmerpenguins' penguins.csv, as the package ships it: missing cells are NA
PENGUINS = """\
species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year
Adelie,Torgersen,39.1,18.7,181,3750,male,2007
Adelie,Torgersen,39.5,17.4,186,3800,female,2007
Adelie,Torgersen,40.3,18,195,3250,female,2007
Adelie,Torgersen,NA,NA,NA,NA,NA,2007
Adelie,Torgersen,36.7,19.3,193,3450,female,2007
Adelie,Torgersen,39.3,20.6,190,3650,male,2007
Adelie,Torgersen,38.9,17.8,181,3625,female,2007
Adelie,Torgersen,39.2,19.6,195,4675,male,2007
Adelie,Torgersen,34.1,18.1,193,3475,NA,2007
Adelie,Torgersen,42,20.2,190,4250,NA,2007
Gentoo,Biscoe,46.1,13.2,211,4500,female,2007
Gentoo,Biscoe,50,16.3,230,5700,male,2007
Gentoo,Biscoe,48.7,14.1,210,4450,female,2007
Gentoo,Biscoe,50,15.2,218,5700,male,2007
Gentoo,Biscoe,47.6,14.5,215,5400,male,2007
Chinstrap,Dream,46.5,17.9,192,3500,female,2007
Chinstrap,Dream,50,19.5,196,3900,male,2007
Chinstrap,Dream,51.3,19.2,193,3650,male,2007
Chinstrap,Dream,45.4,18.7,188,3525,female,2007
Chinstrap,Dream,52.7,19.8,197,3725,male,2007
"""

SUITE = """\
project: penguins
sources:
  penguins: {{url: http://127.0.0.1:1/penguins.csv, path: data/penguins.csv}}
checks:
  penguins:
{extra}    columns:
      bill_length_mm: {{type: float, min: 30, max: 60, max_null_fraction: {fraction}}}
      body_mass_g: {{type: int}}
      sex: {{type: str, in: [female, male]{sex}}}
"""


def penguins(tmp_path: Path, *, extra: str = "", fraction: float = 0.1, sex: str = "", data: str = PENGUINS) -> Path:
    config = SUITE.format(extra=extra, fraction=fraction, sex=sex)
    return make_project(tmp_path / "proj", config, {"data/penguins.csv": data})


def check_json(root: Path) -> tuple[int, dict]:
    result = run_cli("check", "penguins", "--json", cwd=root)
    assert result.out, result.err
    return result.code, json.loads(result.out)


def test_the_default_tokens_are_stated_in_the_schema():
    assert NULL_VALUES == ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None")
    result = run_cli("schema")
    assert result.code == 0, result.err
    text = result.out
    assert "null_values" in text
    assert "NA, N/A, NaN, nan, null, NULL, None" in text


def test_na_in_a_float_column_passes_type_and_counts_as_null(tmp_path):
    root = penguins(tmp_path, fraction=0.1)
    code, report = check_json(root)
    findings = {(f["rule"], f["column"]): f for f in report["findings"]}
    assert findings[("type", "bill_length_mm")]["status"] == "pass"
    assert findings[("type", "body_mass_g")]["status"] == "pass"
    assert findings[("in", "sex")]["status"] == "pass"  # NA is missing, not a third category
    # 1 NA in 20 rows: 5%, within 10%
    assert findings[("max_null_fraction", "bill_length_mm")]["status"] == "pass"
    assert findings[("max_null_fraction", "bill_length_mm")]["value"] == pytest.approx(0.05)
    assert code == 0, report


def test_na_cells_count_in_max_null_fraction_and_fail_not_null_naming_the_rows(tmp_path):
    root = penguins(tmp_path, fraction=0.01, sex=", not_null: true")
    code, report = check_json(root)
    assert code == 1
    fails = by_rule(report)
    assert set(fails) == {("max_null_fraction", "bill_length_mm"), ("not_null", "sex")}
    assert fails[("max_null_fraction", "bill_length_mm")]["message"] == "5.00% nulls, more than 1.00%"
    not_null = fails[("not_null", "sex")]
    assert not_null["details"]["rows"] == [4, 9, 10]
    assert not_null["message"] == "3 rows failed not_null; first: row 4 (null), 9 (null), 10 (null)"


def test_every_default_token_is_missing(tmp_path):
    cells = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]
    data = "x,kind\n" + "".join(f"{cell},{cell}\n" for cell in cells) + "1.5,a\n"
    config = (
        "project: t\nchecks:\n  t.csv:\n    columns:\n"
        "      x: {type: float, max_null_fraction: 0.9}\n      kind: {type: str, in: [a]}\n"
    )
    root = make_project(tmp_path / "p", config, {"t.csv": data})
    report = check_file(Project.load(root), "t.csv")
    findings = {(f.rule, f.column): f for f in report.findings}
    assert report.ok, [f.message for f in report.findings if f.status == "fail"]
    assert findings[("max_null_fraction", "x")].value == pytest.approx(8 / 9)


def test_empty_null_values_restores_strict_reading(tmp_path):
    root = penguins(tmp_path, extra="    null_values: []\n")
    code, report = check_json(root)
    assert code == 1
    fails = by_rule(report)
    assert fails[("type", "bill_length_mm")]["message"] == "1 row failed type float; first: row 4 (NA)"
    assert fails[("type", "body_mass_g")]["details"]["rows"] == [4]
    assert fails[("in", "sex")]["details"]["rows"] == [4, 9, 10]
    assert fails[("in", "sex")]["details"]["values"] == ["NA", "NA", "NA"]


def test_custom_null_token(tmp_path):
    data = PENGUINS.replace(",NA", ",-")
    root = penguins(tmp_path, extra='    null_values: ["-"]\n', data=data)
    code, report = check_json(root)
    assert code == 0, by_rule(report)
    fraction = next(f for f in report["findings"] if f["rule"] == "max_null_fraction")
    assert fraction["value"] == pytest.approx(0.05)
    # "-" replaced the defaults: NA is text again
    (root / "data/penguins.csv").write_text(PENGUINS)
    code, report = check_json(root)
    assert code == 1
    assert by_rule(report)[("type", "bill_length_mm")]["details"]["values"] == ["NA"]


def test_infer_proposes_numbers_and_categories_without_na(tmp_path):
    root = penguins(tmp_path)
    result = run_cli("check", "--infer", "penguins", cwd=root)
    assert result.code == 0, result.err
    lines = {line.split(":")[0].strip(): line for line in result.out.splitlines() if line.startswith("  ")}
    assert lines["bill_length_mm"] == "  bill_length_mm: {type: float, max_null_fraction: 0.1, min: 32, max: 55}"
    assert lines["body_mass_g"] == "  body_mass_g: {type: int, max_null_fraction: 0.1, min: 3000, max: 6000}"
    assert lines["sex"] == "  sex: {type: str, max_null_fraction: 0.3, in: [female, male]}"
    assert lines["species"] == "  species: {type: str, not_null: true, in: [Adelie, Chinstrap, Gentoo]}"
    # the proposal, pasted in, passes on the data it came from
    indented = "".join("    " + line + "\n" for line in result.out.splitlines())
    text = f"project: penguins\nsources:\n  penguins: {{url: x, path: data/penguins.csv}}\nchecks:\n  penguins:\n{indented}"
    (root / "flowtide.yaml").write_text(text)
    assert check_file(Project.load(root), "penguins").ok


def test_infer_with_null_values_off_sees_text(tmp_path):
    root = penguins(tmp_path, extra="    null_values: []\n")
    result = run_cli("check", "--infer", "penguins", cwd=root)
    assert "  bill_length_mm: {type: str" in result.out
    assert "in: [NA, female, male]" in result.out


def test_drift_reads_na_as_missing_in_the_reference_too(tmp_path):
    root = penguins(tmp_path, extra="    drift: {columns: [bill_length_mm, sex], block: true}\n")
    (root / "ref.csv").write_text(PENGUINS)
    result = run_cli("check", "penguins", "--reference", "ref.csv", "--json", cwd=root)
    assert result.code == 0, result.out
    report = json.loads(result.out)
    drift = {f["column"]: f for f in report["findings"] if f["rule"] == "drift" and f["column"]}
    assert {c: f["details"]["method"] for c, f in drift.items()} == {"bill_length_mm": "psi", "sex": "chi2"}
    assert drift["bill_length_mm"]["details"]["n_reference"] == 19
    # the stored profile of the reference counts NA as missing, not as a category
    (stored,) = (root / ".flowtide/cache/profiles").rglob("*.json")
    sex = json.loads(stored.read_text())["columns"]["sex"]
    assert sex["counts"] == {"male": 9, "female": 8} and sex["nulls"] == 3


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        ("[NA, null]", "flowtide.yaml:6:23: checks.penguins.null_values.1 must be a string, got None"),
        ("[NA, 3]", "flowtide.yaml:6:23: checks.penguins.null_values.1 must be a string, got 3"),
    ],
)
def test_null_values_that_yaml_does_not_read_as_text_are_refused_at_load(tmp_path, tokens, message):
    root = penguins(tmp_path, extra=f"    null_values: {tokens}\n")
    result = run_cli("check", cwd=root)
    assert result.code == 2
    assert message in result.err
    assert 'Quote the token so YAML keeps it as text, e.g. null_values: ["null", "-", "-999"].' in result.err


def test_null_values_on_a_parquet_suite_is_refused_at_load():
    text = "project: t\nchecks:\n  data/t.parquet:\n    null_values: [NA]\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert str(info.value).startswith(
        "flowtide.yaml:4:5: checks of 'data/t.parquet': null_values applies to CSV files only"
    )


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_nan_value_fails_mean_and_std_instead_of_passing_every_bound(tmp_path, fmt):
    """NaN compares false with any bound: a Parquet float NaN (or a CSV `NaN` that null_values does not
    list) made `mean nan` pass. It fails now, saying why."""
    import polars as pl

    root = make_project(
        tmp_path / "p",
        f"project: x\nchecks:\n  d.{fmt}:\n"
        + ("    null_values: [NA]\n" if fmt == "csv" else "")
        + "    columns:\n      f: {type: float, mean: {min: -5, max: 5}, std: {max: 10}}\n",
    )
    frame = pl.DataFrame({"f": [1.0, float("nan"), 2.0]})
    frame.write_parquet(root / "d.parquet") if fmt == "parquet" else frame.write_csv(root / "d.csv")
    result = run_cli("check", f"d.{fmt}", "--json", cwd=root)
    assert result.code == 1, result.out + result.err
    fails = by_rule(json.loads(result.out))
    for stat in ("mean", "std"):
        assert "is NaN" in fails[(stat, "f")]["message"]
