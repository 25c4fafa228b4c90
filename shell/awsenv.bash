# awsenv hook for bash. Install: eval "$(awsenv hook bash)" in ~/.bashrc
_awsenv_hook() {
  local _awsenv_status=$?
  trap -- '' SIGINT
  eval "$(__AWSENV_EXE__ export bash)"
  trap - SIGINT
  return $_awsenv_status
}

awsenv_prompt() {
  [ -n "${AWSENV_PROFILE:-}" ] || return 0
  local _left=""
  if [ -n "${AWS_CREDENTIAL_EXPIRATION:-}" ] && [ -n "${AWSENV_EXPIRES_EPOCH:-}" ]; then
    _left=$((AWSENV_EXPIRES_EPOCH - ${EPOCHSECONDS:-0}))
  fi
  printf '%s' "$AWSENV_PROFILE${_left:+ $_left}"
}

if [[ ";${PROMPT_COMMAND[*]:-};" != *";_awsenv_hook;"* ]]; then
  if [[ "$(declare -p PROMPT_COMMAND 2>&1)" == "declare -a"* ]]; then
    PROMPT_COMMAND=(_awsenv_hook "${PROMPT_COMMAND[@]}")
  else
    PROMPT_COMMAND="_awsenv_hook${PROMPT_COMMAND:+;$PROMPT_COMMAND}"
  fi
fi
