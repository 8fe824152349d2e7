# bash completion for llmlabctl(1)                                      -*- shell-script -*-
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Verbs, options, option values, and the model, preset, backend and benchmark ids of the daemon
# the command line talks to (--user, -H/--host and -M/--machine are passed on).

__llmlabctl_ids() { # what: models|backends|presets|benchmarks; the connection options in ${conn[@]}
    local what=$1
    case $what in
    models) llmlabctl "${conn[@]}" --no-legend --no-ask-password models 2>/dev/null | awk '{print $1}' ;;
    backends) llmlabctl "${conn[@]}" --no-legend --no-ask-password models 2>/dev/null | awk '{print $2}' | sort -u ;;
    presets) llmlabctl "${conn[@]}" --no-legend --no-ask-password prompts 2>/dev/null | awk '{print $1}' ;;
    benchmarks)
        llmlabctl "${conn[@]}" --no-legend --no-ask-password benchmarks 2>/dev/null |
            awk '{ print ($1 == "*") ? $2 : $1 }'
        ;;
    esac
}

_llmlabctl() {
    local cur prev words cword
    _init_completion -n = || return

    local -a conn=()
    local verb= i
    local common='-h --help --user --system -H --host -M --machine --json --json= --no-legend --no-ask-password'
    local run_opts='-m --model -p --prompt --system --system-prompt --preset --context --inject -t --temperature
                    -n --max-tokens --seed --num-ctx --think --no-think --backend --label -q --quiet'
    local energy_opts='--measure --benchmark --region'
    local filter_opts='--model --since --limit --job'
    local -A verb_opts=(
        [status]=''
        [energy]=''
        [models]='--backend'
        [model-info]='--backend'
        [prompts]=''
        [run]="$run_opts"
        [run-energy]="$run_opts $energy_opts"
        [batch]="$run_opts $energy_opts --runs --warmup --bust-cache --idle-ms"
        [crossover]="$run_opts $energy_opts --start-tokens --step-tokens --max-steps"
        [calibrate]="$run_opts --runs"
        [compare]="$run_opts $energy_opts --pane"
        [benchmarks]='--input --output --name --description --source'
        [session]=''
        [history]="$filter_opts"
        [export]="$filter_opts --format -o --output"
    )

    # The verb, and the options that choose the daemon.
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
        --user) conn+=(--user) ;;
        --system) conn+=(--system) ;;
        -H | --host | -M | --machine) conn+=("${words[i]}" "${words[i + 1]}"); ((i++)) ;;
        --host=* | --machine=*) conn+=("${words[i]}") ;;
        -*) ;;
        *)
            if [[ -z $verb && -n ${verb_opts[${words[i]}]+set} ]]; then
                verb=${words[i]}
            fi
            ;;
        esac
    done

    # Values of options.
    local opt=$prev value=$cur
    if [[ $cur == --*=* ]]; then
        opt=${cur%%=*}
        value=${cur#*=}
    fi
    case $opt in
    --json)
        COMPREPLY=($(compgen -W 'pretty short off' -- "$value"))
        return
        ;;
    --format)
        COMPREPLY=($(compgen -W 'json csv openmetrics' -- "$value"))
        return
        ;;
    --measure)
        local modes='live estimate auto'
        [[ $verb == compare ]] && modes="off $modes"
        COMPREPLY=($(compgen -W "$modes" -- "$value"))
        return
        ;;
    -m | --model)
        COMPREPLY=($(compgen -W "$(__llmlabctl_ids models)" -- "$value"))
        __ltrim_colon_completions "$value"
        return
        ;;
    --backend)
        COMPREPLY=($(compgen -W "$(__llmlabctl_ids backends)" -- "$value"))
        return
        ;;
    --preset)
        COMPREPLY=($(compgen -W "$(__llmlabctl_ids presets)" -- "$value"))
        return
        ;;
    --benchmark)
        COMPREPLY=($(compgen -W "$(__llmlabctl_ids benchmarks)" -- "$value"))
        __ltrim_colon_completions "$value"
        return
        ;;
    --context | -o | --output)
        [[ $verb == benchmarks ]] && return # --output WH there
        _filedir
        return
        ;;
    -H | --host)
        _known_hosts_real -- "$value"
        return
        ;;
    -M | --machine)
        COMPREPLY=($(compgen -W "$(machinectl list --no-legend 2>/dev/null | awk '{print $1}')" -- "$value"))
        return
        ;;
    -p | --prompt | --system | --system-prompt | --inject | -t | --temperature | -n | --max-tokens | --seed | \
        --num-ctx | --label | --region | --runs | --warmup | --idle-ms | --start-tokens | --step-tokens | \
        --max-steps | --pane | --since | --limit | --job | --input | --name | --description | --source)
        return # free text or a number
        ;;
    esac

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$common ${verb_opts[$verb]} $([[ -z $verb ]] && echo --version)" -- "$cur"))
        [[ ${COMPREPLY-} == *= ]] && compopt -o nospace
        return
    fi

    if [[ -z $verb ]]; then
        COMPREPLY=($(compgen -W "${!verb_opts[*]}" -- "$cur"))
        return
    fi

    # Positional arguments of the verbs.
    local -a args=()
    for ((i = 1; i < cword; i++)); do
        [[ ${words[i]} != -* && ${words[i]} != "$verb" && ${words[i - 1]} != @(-H|--host|-M|--machine) ]] &&
            args+=("${words[i]}")
    done
    case $verb in
    model-info)
        ((${#args[@]} == 0)) && COMPREPLY=($(compgen -W "$(__llmlabctl_ids models)" -- "$cur")) &&
            __ltrim_colon_completions "$cur"
        ;;
    prompts)
        ((${#args[@]} == 0)) && COMPREPLY=($(compgen -W "$(__llmlabctl_ids presets)" -- "$cur"))
        ;;
    session)
        ((${#args[@]} == 0)) && COMPREPLY=($(compgen -W 'summary clear' -- "$cur"))
        ;;
    benchmarks)
        if ((${#args[@]} == 0)); then
            COMPREPLY=($(compgen -W 'list set-default add remove' -- "$cur"))
        elif ((${#args[@]} == 1)) && [[ ${args[0]} == @(set-default|remove) ]]; then
            COMPREPLY=($(compgen -W "$(__llmlabctl_ids benchmarks)" -- "$cur"))
            __ltrim_colon_completions "$cur"
        fi
        ;;
    esac
}

complete -F _llmlabctl llmlabctl
