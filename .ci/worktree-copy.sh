# Sourced by the .ci scripts: copy_worktree SRC DEST copies the working tree of SRC as the next
# commit would hold it (tracked files plus untracked files that are not git-ignored; so no var/,
# no target/) into DEST; clone_head SRC DEST clones HEAD instead.
copy_worktree() {
  local src=$1 dest=$2
  mkdir -p -- "$dest"
  # shellcheck disable=SC2016  # $1 is for the inner sh
  (cd -- "$src" && git ls-files -z --cached --others --exclude-standard |
    xargs -0 -I{} sh -c 'test -e "$1" && printf "%s\0" "$1"' _ {} |
    tar --null -T - -cf -) | (cd -- "$dest" && tar -xf -)
}

clone_head() {
  git clone -q --no-hardlinks "$1" "$2"
}
