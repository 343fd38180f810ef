#!/usr/bin/env bash
# Makes the prompt recordings of the example surveys: every prompt's text,
# read from the survey's own survey.toml, is spoken by espeak-ng and turned
# by sox into an 8 kHz mono 16-bit WAV at
#   examples/surveys/NAME/prompts/LANG/PROMPT.wav
# in every language the survey declares (`languages` in [survey]). The WAVs
# are committed, so the examples run without espeak-ng.
#
# Workflow: edit a prompt's `text` in survey.toml, rerun this script, commit
# the changed WAVs.
#
#   scripts/make-prompts.sh                      # every example survey
#   scripts/make-prompts.sh examples/surveys/wellbeing [...]
#   PROMPT_LANGUAGES="fi sv" scripts/make-prompts.sh   # only these languages
#
# A version whose `file` points anywhere but prompts/LANG/PROMPT.wav is a
# real recording: it is left alone. The same espeak-ng and sox versions
# give byte-identical files (sox runs in repeatable mode).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
# The code names a folder and an espeak-ng voice: nothing else may pass.
lang_pattern='^[a-z]{2,3}(-[A-Za-z0-9]+)*$'
asked=()
if [ -n "${PROMPT_LANGUAGES:-}" ]; then
  read -r -a asked <<<"$PROMPT_LANGUAGES"
  for lang in "${asked[@]}"; do
    if ! [[ "$lang" =~ $lang_pattern ]]; then
      echo "make-prompts: PROMPT_LANGUAGES holds \"$lang\"; give language codes such as fi sv" >&2
      exit 2
    fi
  done
fi

for tool in espeak-ng sox python3; do
  if ! command -v "$tool" >/dev/null; then
    echo "make-prompts: $tool is missing; install it with: sudo apt-get install espeak-ng sox python3" >&2
    exit 2
  fi
done
# tomllib arrived in Python 3.11 (Debian bookworm's python3).
if ! python3 -c 'import tomllib' 2>/dev/null; then
  echo "make-prompts: python3 is older than 3.11 (no tomllib); use Debian bookworm's python3 or newer" >&2
  exit 2
fi

if [ "$#" -gt 0 ]; then
  surveys=("$@")
else
  surveys=()
  for d in "$root"/examples/surveys/*/; do
    [ -f "$d/survey.toml" ] && surveys+=("${d%/}")
  done
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Prints the languages a survey declares, one a line.
survey_languages() {
  python3 - "$1" <<'PY'
import sys, tomllib

path = sys.argv[1]
with open(path, "rb") as f:
    languages = tomllib.load(f).get("survey", {}).get("languages", [])
if not isinstance(languages, list) or not all(isinstance(l, str) for l in languages):
    sys.exit(f"{path}: [survey] languages must be a list of codes such as [\"fi\", \"sv\"]")
for lang in languages:
    print(lang)
PY
}

# Prints one record per prompt version in the languages asked for, each
# field ended by a NUL (texts may hold any character but NUL): prompt,
# language, espeak-ng voice, the `file` it names ("" if none), text.
list_versions() {
  python3 - "$1" "${languages[@]}" <<'PY'
import re, sys, tomllib

path, wanted = sys.argv[1], sys.argv[2:]
with open(path, "rb") as f:
    prompts = tomllib.load(f).get("prompts", {})
out = sys.stdout
for name, versions in prompts.items():
    # The name becomes a file name: refuse anything that could leave the
    # prompts folder or upset a shell.
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        sys.exit(f"{path}: prompt name {name!r} cannot be a file name; use letters, digits, _ and -")
    for lang in wanted:
        v = versions.get(lang)
        if v is None:
            continue
        if isinstance(v, str):
            v = {"text": v}
        fields = [name, lang, v.get("voice", lang), v.get("file", ""), v.get("text", "")]
        for field in fields:
            if "\0" in field:
                sys.exit(f"{path}: prompt {name!r} ({lang}) holds a NUL character")
            out.write(field + "\0")
PY
}

made=0
for survey in "${surveys[@]}"; do
  survey="${survey%/}"
  name="${survey#"$root"/}"
  toml="$survey/survey.toml"
  if [ ! -f "$toml" ]; then
    echo "make-prompts: $toml not found; give survey folders (each with a survey.toml)" >&2
    exit 2
  fi
  if [ "${#asked[@]}" -gt 0 ]; then
    languages=("${asked[@]}")
  else
    # Not `< <(...)`: a failing substitution must stop the script.
    declared="$(survey_languages "$toml")"
    languages=()
    [ -n "$declared" ] && mapfile -t languages <<<"$declared"
    if [ "${#languages[@]}" -eq 0 ]; then
      echo "make-prompts: $toml declares no languages; add languages = [\"fi\", ...] to [survey]" >&2
      exit 2
    fi
    for lang in "${languages[@]}"; do
      if ! [[ "$lang" =~ $lang_pattern ]]; then
        echo "make-prompts: $toml declares the language \"$lang\"; use codes such as fi sv en" >&2
        exit 2
      fi
    done
  fi
  list_versions "$toml" >"$work/versions"
  declare -A written=() kept=()
  while IFS= read -r -d '' prompt && IFS= read -r -d '' lang &&
    IFS= read -r -d '' voice && IFS= read -r -d '' file &&
    IFS= read -r -d '' text; do
    rel="prompts/$lang/$prompt.wav"
    if [ -n "$file" ] && [ "$file" != "$rel" ]; then
      echo "  $name: $prompt ($lang) keeps its recording $file"
      kept["$survey/$file"]=1
      continue
    fi
    if [ -z "${text//[[:space:]]/}" ]; then
      echo "  $name: $prompt ($lang) has no text to speak; left as it is"
      continue
    fi
    mkdir -p "$survey/prompts/$lang"
    # Text goes through stdin so a prompt starting with `-` is not an option.
    printf '%s' "$text" | espeak-ng -b 1 -v "$voice" -w "$work/raw.wav" --stdin
    # espeak-ng writes 22.05 kHz at full scale. Trim the silence it leaves
    # at both ends (then keep a short, even margin), leave headroom so the
    # resampler cannot clip, go to 8 kHz, and peak-normalise to -3 dBFS so
    # every prompt is equally loud. -R seeds the dither: same input, same
    # bytes.
    sox -R -V1 "$work/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$work/out.wav" \
      silence 1 0.02 -45d reverse silence 1 0.02 -45d reverse \
      pad 0.1 0.15 gain -3 rate -v 8000 norm -3
    mv "$work/out.wav" "$survey/$rel"
    if [ -z "$file" ]; then
      echo "  $name: $prompt ($lang) is text in survey.toml; set file = \"$rel\" next to its text to play the recording"
    fi
    written["$survey/$rel"]=1
    made=$((made + 1))
  done <"$work/versions"

  # Other WAVs are left from prompts since removed or recorded under
  # another name: say so, for someone to delete them.
  for lang in "${languages[@]}"; do
    for wav in "$survey/prompts/$lang"/*.wav; do
      [ -e "$wav" ] && [ -z "${written["$wav"]-}" ] && [ -z "${kept["$wav"]-}" ] || continue
      echo "  $name: $wav is named by no ${languages[*]} prompt; delete it if survey.toml does not use it"
    done
  done
  size="$(du -sh "$survey/prompts" 2>/dev/null | cut -f1)"
  echo "$name: ${#written[@]} prompts in ${languages[*]}, ${size:-0} in prompts/"
done
echo "make-prompts: $made prompts made with $(espeak-ng --version | head -n 1 | cut -d' ' -f1-4) and $(sox --version | sed 's/^.*SoX //')"
