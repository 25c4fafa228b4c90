# awsenv hook for zsh. Install: eval "$(awsenv hook zsh)" in ~/.zshrc
_awsenv_hook() {
  trap -- '' INT
  eval "$(__AWSENV_EXE__ export zsh)"
  trap - INT
}
typeset -ag precmd_functions chpwd_functions
if (( ! ${precmd_functions[(I)_awsenv_hook]} )); then
  precmd_functions=(_awsenv_hook $precmd_functions)
fi
if (( ! ${chpwd_functions[(I)_awsenv_hook]} )); then
  chpwd_functions=(_awsenv_hook $chpwd_functions)
fi
