"""Config files: loading YAML/JSON with line numbers in errors, and dumping YAML."""

from __future__ import annotations

import json
import pathlib
import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from gwcore.config import Config, from_dict, to_dict
from gwcore.errors import FieldError
from gwtransports.configfile import ConfigFileError, _line, dump_yaml, load_config_file
from tests.gwcore.strategies import configs

CORPUS = pathlib.Path(__file__).resolve().parents[2] / "fuzz" / "config_corpus"


def write(tmp_path: pathlib.Path, name: str, text: str) -> pathlib.Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load_error(path: pathlib.Path) -> ConfigFileError:
    with pytest.raises(ConfigFileError) as info:
        load_config_file(path)
    return info.value


@pytest.mark.parametrize("name", ["example.yaml", "minimal.yaml", "full.json"])
def test_loads_yaml_and_json(name: str) -> None:
    path = CORPUS / name
    config = load_config_file(path)
    assert config == from_dict(yaml.safe_load(path.read_text()))
    assert config.routes


def test_line_of_a_path_beyond_the_file() -> None:
    root = yaml.compose("a: [1]\nb: 2\n", Loader=yaml.SafeLoader)
    assert root is not None
    assert _line(root, "a[5]") == 1
    assert _line(root, "b.c") == 2
    assert _line(root, "c") == 1


def test_json_is_read_as_json(tmp_path: pathlib.Path) -> None:
    # In YAML 1.1 'on' would be true; a .json file means JSON.
    path = write(tmp_path, "g.json", '{"routes": {}, "state": "on"}')
    assert load_config_file(str(path)).state == "on"


def test_field_errors_carry_lines_in_file_order(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path,
        "gateway.yaml",
        """
        listen: 127.0.0.1:8080
        services:
          users:
            endpoints:
              - url: http://127.0.0.1:9001
              - url: ftp://x
        routes:
          v1.users:
            prefix: /v1
            service: nobody
          usermapping:
            prefix: user/
            service: users
            prefx: /
        """,
    )
    error = load_error(path)
    assert str(error).splitlines() == [
        f"{path}:6: services.users.endpoints[1].url: 'ftp://x' is not an http:// or https:// URL",
        f"{path}:10: routes.v1.users.service: no service named 'nobody'",
        f"{path}:12: routes.usermapping.prefix: prefix must start with '/'",
        f"{path}:14: routes.usermapping.prefx: unknown key; did you mean 'prefix'?",
    ]
    assert error.file == str(path)
    assert error.lines == (6, 10, 12, 14)
    assert error.errors[2] == FieldError("routes.usermapping.prefix", "prefix must start with '/'")


def test_missing_key_points_at_its_parent(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path,
        "g.yaml",
        """
        routes:
          r:
            service: s
        services: {s: {}}
        listen: [127.0.0.1:1, {tls: null}]
        """,
    )
    assert str(load_error(path)).splitlines() == [
        f"{path}:2: routes.r.prefix: is required",
        f"{path}:5: listen[1].address: is required",
    ]


def test_errors_without_a_place_in_the_file(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "g.yaml", "stage: prod\n")
    assert str(load_error(path)) == f"{path}:1: stage: no stage named 'prod' (none defined)"
    path = write(tmp_path, "list.yaml", "- 1\n")
    assert str(load_error(path)) == f"{path}:1: must be a mapping, not a list"


def test_json_field_errors_have_lines_too(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path, "g.json", '{\n  "routes": {\n    "a": {"prefix": "/", "service": "s"}\n  }\n}'
    )
    assert str(load_error(path)) == f"{path}:3: routes.a.service: no service named 's'"
    # Tabs are fine in JSON but not in YAML: then there are no line numbers.
    path = write(tmp_path, "tabs.json", '{\t"access_log": 1}')
    assert str(load_error(path)) == f"{path}: access_log: must be one of text, json, off; got 1"


def test_duplicate_keys_are_errors(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path,
        "g.yaml",
        """
        services: {s: {}}
        routes:
          r: {prefix: /a, service: s}
          r: {prefix: /b, service: s}
        """,
    )
    assert str(load_error(path)) == f"{path}:4: routes.r: duplicate key (first on line 3)"
    path = write(tmp_path, "g.json", '{"state": "a",\n "state": "b"}')
    assert str(load_error(path)) == f"{path}:2: state: duplicate key (first on line 1)"


def test_aliases_are_followed_once(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path,
        "g.yaml",
        """
        services:
          a: &svc {endpoints: [http://127.0.0.1:1], retries: 1}
          b: *svc
        routes:
          - x
        """,
    )
    assert (
        str(load_error(path)) == f"{path}:4: routes: must be a mapping of route names, not a list"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: [", "1: invalid YAML: while parsing a flow node, expected the node content, but "
         "found '<stream end>'"),
        ("a: b: c", "1: invalid YAML: mapping values are not allowed here"),
        ("a: 1\n--- \nb: 2", "2: invalid YAML: expected a single document in the stream, but "
         "found another document"),
        ("x: !!python/object:os.system {}", "1: invalid YAML: could not determine a constructor "
         "for the tag 'tag:yaml.org,2002:python/object:os.system'"),
        ("listen: 1" + "0" * 5000, " invalid YAML: Exceeds the limit (4300 digits) for integer "
         "string conversion: value has 5001 digits; use sys.set_int_max_str_digits() to increase "
         "the limit"),
        ("[" * 5000, " invalid YAML: nested too deeply"),
        ("", " the file holds no config (it is empty)"),
        ("# only a comment\n", " the file holds no config (it is empty)"),
    ],
)  # fmt: skip
def test_yaml_syntax_errors_are_one_line(tmp_path: pathlib.Path, text: str, expected: str) -> None:
    path = write(tmp_path, "g.yaml", text)
    message = str(load_error(path))
    assert message == f"{path}:{expected}"
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1,\n}', "2: invalid JSON: Expecting property name enclosed in double quotes"),
        ("", "1: invalid JSON: Expecting value"),
        ("[" * 100000, " invalid JSON: maximum recursion depth exceeded while decoding a JSON "
         "array from a unicode string"),
    ],
)  # fmt: skip
def test_json_syntax_errors(tmp_path: pathlib.Path, text: str, expected: str) -> None:
    path = write(tmp_path, "g.json", text)
    assert str(load_error(path)) == f"{path}:{expected}"


def test_unreadable_files(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "missing.yaml"
    assert str(load_error(missing)) == f"{missing}: cannot read: No such file or directory"
    assert str(load_error(tmp_path)) == f"{tmp_path}: cannot read: Is a directory"
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"a: \xff\n")
    assert str(load_error(binary)) == f"{binary}: not UTF-8 text (byte 3)"


def test_dump_yaml_is_readable_block_yaml_in_schema_order(tmp_path: pathlib.Path) -> None:
    config = load_config_file(CORPUS / "full.json")
    text = dump_yaml(config)
    top = [line.split(":")[0] for line in text.splitlines() if line and line[0].isalpha()]
    assert top == list(to_dict(config))
    assert "\n\nroutes:\n  split:\n    prefix: /api/\n    rewrite: /v2/\n    backends:\n" in text
    assert "    methods: [GET]\n" in text
    assert "failure_statuses: [500, 502, 503, 504]" in text
    assert yaml.safe_load(text) == to_dict(config)
    path = tmp_path / "dump.yaml"
    path.write_text(text)
    assert load_config_file(path) == config


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(configs())
def test_dump_yaml_loads_back_equal(tmp_path: pathlib.Path, config: Config) -> None:
    path = tmp_path / "dump.yaml"
    path.write_text(dump_yaml(config), encoding="utf-8")
    assert load_config_file(path) == config
    as_json = tmp_path / "dump.json"
    as_json.write_text(json.dumps(to_dict(config)), encoding="utf-8")
    assert load_config_file(as_json) == config
