#!/bin/sh
# tests/engine/smtp/nodemailer-install.sh PREFIX: makes sure nodemailer@6
# is installed under PREFIX/node_modules (npm install --prefix PREFIX), one
# installer at a time (tests run in parallel). Exits non-zero, with npm's
# output, if it cannot: the tests that need it then fail.
set -eu
prefix=$1
mkdir -p "$prefix"
exec 9>"$prefix/.install.lock"
flock 9
if grep -qs '"version": "6\.' "$prefix/node_modules/nodemailer/package.json"; then
    exit 0
fi
npm install --no-audit --no-fund --loglevel=error --prefix "$prefix" nodemailer@6
grep -qs '"version": "6\.' "$prefix/node_modules/nodemailer/package.json"
