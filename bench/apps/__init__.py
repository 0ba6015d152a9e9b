"""The servers under test, each an app factory for `uvicorn --factory bench.apps.<name>:create_app`.

`floor` and `receiver_app` need only this project's dependencies (the smoke test imports
them); `fastapi_app` and `vapiserve_app` need the benchmark's own environment.
"""
