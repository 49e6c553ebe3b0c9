# bash completion for ckpt, the client of ckptd.
# Job ids, follow job ids and setting names come from a running daemon (one
# short request; a daemon is never started for completion).

_ckpt_daemon() {
    # The global --socket given so far, then the command.
    local sock=() i
    for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
        case ${COMP_WORDS[i]} in
            --socket) sock=(--socket "${COMP_WORDS[i + 1]}") ;;
            --socket=*) sock=("${COMP_WORDS[i]}") ;;
        esac
    done
    "${COMP_WORDS[0]}" --no-autostart "${sock[@]}" "$@" 2>/dev/null
}

_ckpt_job_ids() { _ckpt_daemon jobs --all | awk 'NR > 1 && $1 ~ /^[0-9]+$/ { print $1 }'; }
_ckpt_follow_ids() { _ckpt_daemon prefetch list | awk 'NR > 1 && $1 ~ /^[0-9]+$/ { print $1 }'; }
_ckpt_config_keys() { _ckpt_daemon config | awk 'NR > 1 { print $1 "=" }'; }

_ckpt() {
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        _init_completion -n = || return
    else
        cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
        words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
    fi

    local global="--socket --json --no-autostart -m --master --help --version"
    local commands="status fetch jobs job pause resume cancel watch config verify checkpoint c
                    trial t experiment e prefetch pin unpin pins help"

    # The command and its subcommand: the first words that are not options.
    local i cmd="" sub="" skip=0
    for ((i = 1; i < cword; i++)); do
        if ((skip)); then skip=0; continue; fi
        case ${words[i]} in
            --socket) [ -z "$cmd" ] && skip=1 ;;
            -*) ;;
            *) if [ -z "$cmd" ]; then cmd=${words[i]}; elif [ -z "$sub" ]; then sub=${words[i]}; fi ;;
        esac
    done

    # Values of options.
    case $prev in
        --socket) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        -o | --output | --output-dir) COMPREPLY=($(compgen -d -- "$cur")); return ;;
        -i | --input) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --mode) COMPREPLY=($(compgen -W "auto direct master" -- "$cur")); return ;;
        -s | --state) COMPREPLY=($(compgen -W "queued resolving running waiting paused done failed canceled" -- "$cur")); return ;;
        --order-by) COMPREPLY=($(compgen -W "asc desc" -- "$cur")); return ;;
        --smaller-is-better) COMPREPLY=($(compgen -W "true false" -- "$cur")); return ;;
        --sort-by) COMPREPLY=($(compgen -W "uuid trial_id batch_number end_time state searcher_metric" -- "$cur")); return ;;
        -O | --out | --xxh128 | --size | -p | --priority | --top-n | --keep | --interval | \
        --uuid | --max-results | --glob) return ;;
        --best) if [ "$cmd" = experiment ] || [ "$cmd" = e ]; then return; fi ;;
    esac

    if [ -z "$cmd" ]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "$global" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        fi
        return
    fi

    local opts="--json --help" words_here=""
    case $cmd in
        status) ;;
        fetch) opts+=" -o --output -i --input -O --out --xxh128 --size -p --priority -z --decompress -d --detach --durability --endpoint-url --include --exclude" ;;
        jobs) opts+=" -a --all -s --state" ;;
        job | pause | resume | cancel | watch)
            [ -z "$sub" ] && words_here=$(_ckpt_job_ids) ;;
        config)
            if [ -z "$sub" ]; then words_here="set"; else words_here=$(_ckpt_config_keys); compopt -o nospace 2>/dev/null; fi ;;
        verify)
            opts+=" -v --verbose"
            [ -z "$sub" ] && [[ $cur != -* ]] && { COMPREPLY=($(compgen -d -- "$cur")); return; } ;;
        checkpoint | c)
            if [ -z "$sub" ]; then
                words_here="download describe add-metadata remove-metadata delete rm seal"
            else
                case $sub in
                    download) opts+=" -o --output-dir -q --quiet --mode --decompress" ;;
                    describe) opts+=" --files" ;;
                    delete) opts+=" --yes" ;;
                    rm) opts+=" --glob --yes" ;;
                esac
            fi ;;
        trial | t)
            if [ -z "$sub" ]; then
                words_here="download list-checkpoints lc"
            else
                case $sub in
                    download) opts+=" --best --latest --uuid --sort-by --smaller-is-better -o --output-dir -q --quiet --mode --decompress" ;;
                    list-checkpoints | lc) opts+=" --sort-by --order-by --max-results --csv" ;;
                esac
            fi ;;
        experiment | e)
            if [ -z "$sub" ]; then
                words_here="download list-checkpoints lc"
            else
                case $sub in
                    download) opts+=" --top-n --per-trial --sort-by --smaller-is-better -o --output-dir -q --quiet --mode --decompress" ;;
                    list-checkpoints | lc) opts+=" --best --csv" ;;
                esac
            fi ;;
        prefetch)
            if [ -z "$sub" ]; then
                words_here="trial experiment list stop"
            else
                case $sub in
                    trial) opts+=" --latest --best --keep -o --output --interval --priority" ;;
                    experiment) opts+=" --top-n --keep -o --output --interval --priority" ;;
                    stop) words_here=$(_ckpt_follow_ids) ;;
                esac
            fi ;;
        pin | unpin | pins | help) ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$words_here" -- "$cur"))
    fi
}
complete -F _ckpt ckpt
