# awsenv hook for fish. Install: awsenv hook fish | source   in ~/.config/fish/config.fish
function __awsenv_export_eval --on-event fish_prompt
    __AWSENV_EXE__ export fish | source
end
function __awsenv_cd_hook --on-variable PWD
    __AWSENV_EXE__ export fish | source
end
