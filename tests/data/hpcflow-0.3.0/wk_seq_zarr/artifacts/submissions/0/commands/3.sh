. "$HPCFLOW_JS_FUNCS_PATH"

parameter_p2=`echo "$((4 + 100))"`
if [[ "$(uname)" == "Darwin" ]]; then
    export HPCFLOW_APP_LAUNCH_START="$(date -u '+%Y-%m-%dT%H:%M:%SZ')"
else
    export HPCFLOW_APP_LAUNCH_START="$(date -u '+%Y-%m-%dT%H:%M:%S.%6NZ')"
fi
wkflow_app --std-stream "$HPCFLOW_RUN_STD_PATH" internal workflow "$HPCFLOW_WK_PATH_ARG" save-parameter "--" outputs.p2 $parameter_p2 $HPCFLOW_RUN_ID 0
