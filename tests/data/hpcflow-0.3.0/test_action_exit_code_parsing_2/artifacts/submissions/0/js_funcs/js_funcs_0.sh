wkflow_app () {
(
    /work/wt-v03/.venv-hpcflow03/bin/python "/work/wt-v03/.venv-hpcflow03/lib/python3.11/site-packages/hpcflow/cli.py"\
        --with-config log_file_path "$HPCFLOW_LOG_PATH"\
        --config-dir "/tmp/wfstore-fixtures-2lffq__6/test_action_exit_code_parsing_2/app_config0"\
        --config-key "default"\
        "$@"
)
}
