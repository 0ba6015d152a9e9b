from __future__ import annotations

from pathlib import Path

import pytest

from receiver import ConfigError, Receiver, config_from_env, load_config
from receiver.config import config_from_mapping

FULL = """
[org]
secrets = ["current", "previous"]

[orgs.org-2]
secret = "second-org"

[phone_numbers.pn-7a1e0c52]
secret = "phone"

[assistants.asst-3b9d2f10]
secret = "assistant"

[tools.lookup_order]
secrets = ["tool"]

[receiver]
assistant_request_timeout = 4.5
tool_timeout = 8
max_body_bytes = 1000
assistant_request_fallback = { assistantId = "asst-fallback" }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vapi.toml"
    path.write_text(text)
    return path


def test_full_file_is_read_into_levels_and_options(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL))
    assert config.org is not None and config.org.secrets == ("current", "previous")
    assert config.orgs["org-2"].secrets == ("second-org",)
    assert config.phone_numbers["pn-7a1e0c52"].secrets == ("phone",)
    assert config.assistants["asst-3b9d2f10"].secrets == ("assistant",)
    assert config.tools["lookup_order"].secrets == ("tool",)
    assert config.assistant_request_timeout == 4.5
    assert config.tool_timeout == 8
    assert config.max_body_bytes == 1000
    assert config.assistant_request_fallback == {"assistantId": "asst-fallback"}


def test_secret_and_secrets_combine(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[org]\nsecret = "a"\nsecrets = ["b"]\n'))
    assert config.org is not None and config.org.secrets == ("a", "b")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[assistants.asst-1]\n", "[assistants.asst-1] has no credential"),
        ('[assistants.asst-1]\nsecert = "x"\n', "[assistants.asst-1]: unknown key `secert`"),
        ('[org]\nsecret = ""\n', "[org]: `secret` must be a non-empty string"),
        ('[org]\nsecrets = "x"\n', "[org]: `secrets` must be a list"),
        (
            '[org]\nsecrets = ["ok", 3]\n',
            "[org]: `secrets` must be a list of non-empty strings (item 2 is not)",
        ),
        ('[orgg]\nsecret = "x"\n', "the top level: unknown key `orgg`"),
        ('phone_numbers = "x"\n', "[phone_numbers] must be a table"),
        (
            '[org]\nsecret="x"\n[receiver]\ntool_timout = 3\n',
            "[receiver]: unknown key `tool_timout`",
        ),
        ('[org]\nsecret="x"\n[receiver]\ntool_timeout = "3"\n', "`tool_timeout` must be a number"),
        ('[org]\nsecret="x"\n[receiver]\ninsecure = 1\n', "`insecure` must be true or false"),
        ('[org]\nsecret="x"\n[receiver]\ntool_timeout = 0\n', "tool_timeout must be a positive"),
        ("[org\n", "not valid TOML"),
        (
            '[org]\nsecret="x"\n[receiver]\nassistant_request_fallback = { assistantID = "a" }\n',
            "assistant_request_fallback: ",
        ),
    ],
)
def test_bad_files_name_file_table_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_missing_file_is_a_config_error_naming_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config("nope.toml")
    assert str(caught.value) == (
        f"nope.toml: configuration file not found (looked for {tmp_path / 'nope.toml'}; "
        f"the working directory is {tmp_path})"
    )


def test_environment_names_the_file_or_the_org_secret(tmp_path: Path) -> None:
    path = write(tmp_path, '[org]\nsecret = "from-file"\n')
    from_file = config_from_env({"VAPI_RECEIVER_CONFIG": str(path), "VAPI_SERVER_SECRET": "x"})
    assert from_file is not None and from_file.org is not None
    assert from_file.org.secrets == ("from-file",)
    from_secret = config_from_env({"VAPI_SERVER_SECRET": "org-only"})
    assert from_secret is not None and from_secret.org is not None
    assert from_secret.org.secrets == ("org-only",)
    assert config_from_env({}) is None


def test_receiver_without_any_credential_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VAPI_RECEIVER_CONFIG", raising=False)
    monkeypatch.delenv("VAPI_SERVER_SECRET", raising=False)
    with pytest.raises(ConfigError, match="no credential configured"):
        Receiver()
    assert Receiver(insecure=True).config.insecure


def test_receiver_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VAPI_RECEIVER_CONFIG", raising=False)
    monkeypatch.setenv("VAPI_SERVER_SECRET", "env-secret")
    receiver = Receiver()
    assert receiver.config.org is not None and receiver.config.org.secrets == ("env-secret",)


def test_secrets_never_show_in_repr() -> None:
    config = config_from_mapping(
        {"org": {"secret": "s3cr3t-value"}, "tools": {"t": {"secret": "x1y2"}}}
    )
    assert "s3cr3t-value" not in repr(config)
    assert "x1y2" not in repr(config)


@pytest.mark.parametrize("key", ["max_tool_calls", "max_abandoned_threads"])
@pytest.mark.parametrize(
    ("value", "error"),
    [(0, "must be a positive integer"), (-1, "must be a positive integer"), (True, "an integer")],
)
def test_resource_limits_must_be_positive_integers(key: str, value: object, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        config_from_mapping({"org": {"secret": "s"}, "receiver": {key: value}})


def test_resource_limits_are_read_from_the_receiver_table() -> None:
    options = {"max_tool_calls": 8, "max_abandoned_threads": 4}
    config = config_from_mapping({"org": {"secret": "s"}, "receiver": options})
    assert (config.max_tool_calls, config.max_abandoned_threads) == (8, 4)


def test_every_mistake_is_named_at_once_with_the_key_that_was_meant(tmp_path: Path) -> None:
    """One start-up shows all the typos of a file, each on its own line, not one per run."""
    path = write(
        tmp_path,
        '[org]\nsecert = "x"\n\n[[org.credentials]]\ntype = "bearer"\ntoken = "t"\n\n'
        '[[org.credentials]]\ntype = "hmac"\nsecretKey = "k"\nalgoritm = "sha256"\n\n'
        '[receiver]\ntool_timeuot = 3\ninsecure = "yes"\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).splitlines() == [
        f"{path}: [[org.credentials]] #2 (hmac): `algorithm` is required",
        f"{path}: [[org.credentials]] #2 (hmac): unknown key `algoritm` (expected one of:"
        " algorithm, include_timestamp, message_id_header, payload_format, secret_is_base64,"
        " secret_key, signature_encoding, signature_header, signature_prefix, timestamp_header,"
        " tolerance_seconds); did you mean `algorithm`?",
        f"{path}: [org]: unknown key `secert` (expected one of: credentials, secret, secrets);"
        " did you mean `secret`?",
        f"{path}: [receiver]: `insecure` must be true or false",
        f"{path}: [receiver]: unknown key `tool_timeuot` (expected one of:"
        " assistant_request_fallback, assistant_request_timeout, explain_refusals, insecure,"
        " log_format, max_abandoned_threads, max_body_bytes, max_tool_calls,"
        " max_unverified_parse_bytes, metrics, record_to, request_timeout, tool_timeout);"
        " did you mean `tool_timeout`?",
    ]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"tools": {"lookup_order": "s"}}, "[tools.lookup_order] must be a table"),
        ({"org": "s"}, "[org] must be a table"),
        ({"org": {"secret": "s"}, "inbox": []}, "[inbox] must be a table"),
        ({"org": {"secret": "s"}, "receiver": {"max_body_bytes": 1.5}}, "must be an integer"),
        ({"org": {"secret": "s"}, "receiver": {"tool_timeout": True}}, "a number of seconds"),
    ],
)
def test_a_value_of_the_wrong_shape_names_its_table(data: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_mapping(data, source="app.py")
    assert str(caught.value).startswith("app.py: ")
    assert expected in str(caught.value)
