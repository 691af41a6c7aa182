#!/usr/bin/env bash
# Builds tests/consumers/app.cpp the ways a user can take idem, and runs each against a
# loopback server: single header, Meson subproject, pkg-config after `meson install`, CMake
# add_subdirectory, CMake find_package after `cmake --install` and after `meson install`, and
# pkg-config after `cmake --install`, and CMake FetchContent from a git repository. Needs meson, ninja, cmake,
# pkg-config, git and python3 (CMake uses the Ninja generator: no make needed).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
t=$(mktemp -d)
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$t"; }
trap cleanup EXIT

mkdir -p "$t/www" && printf 'hello from idem' > "$t/www/hello.txt"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$t/www" "$port" >/dev/null 2>&1 &
server=$!
for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$port))" 2>/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port/hello.txt"
passed=0
check() { "$1" "$url" "hello from idem"; passed=$((passed + 1)); }

# A copy of the project's tracked files, as a consumer would vendor it.
mkdir -p "$t/idem"
(cd "$root" && git ls-files -z | xargs -0 cp --parents -t "$t/idem")

echo "--- single header"
c++ -std=c++17 -Wall -Wextra -Werror -I"$t/idem/single_include" "$root/tests/consumers/app.cpp" -o "$t/single"
check "$t/single"

echo "--- single header, with the TLS header beside it (DIR/idem/tls/openssl.hpp)"
mkdir -p "$t/sh/idem/tls"
cp "$t/idem/single_include/idem/idem.hpp" "$t/sh/idem/" && cp "$t/idem/include/idem/tls/openssl.hpp" "$t/sh/idem/tls/"
c++ -std=c++17 -Wall -Wextra -Werror -DCONSUMER_TLS -I"$t/sh" "$root/tests/consumers/app.cpp" -o "$t/single-tls" -lssl -lcrypto
check "$t/single-tls"

echo "--- Meson subproject"
mkdir -p "$t/meson/subprojects" && cp "$root/tests/consumers/app.cpp" "$t/meson/"
cp -r "$t/idem" "$t/meson/subprojects/idem"
cat > "$t/meson/meson.build" <<'M'
project('consumer', 'cpp', default_options: ['cpp_std=c++17'])
executable('app', 'app.cpp', dependencies: dependency('idem'))
M
meson setup "$t/meson/build" "$t/meson" >/dev/null
ninja -C "$t/meson/build" >/dev/null
# Only the consumer is built: idem's tests and examples stay out of a subproject build.
if [ -n "$(ls -A "$t/meson/build/subprojects/idem" 2>/dev/null)" ]; then
  find "$t/meson/build/subprojects/idem" -type f -perm -u+x | grep . && { echo "idem built extra targets"; exit 1; }
fi
check "$t/meson/build/app"

echo "--- pkg-config after meson install"
meson setup "$t/inst-build" "$t/idem" --prefix="$t/prefix" -Dtests=false -Dexamples=false >/dev/null
meson install -C "$t/inst-build" >/dev/null
pcdir=$(dirname "$(find "$t/prefix" -name idem.pc -print -quit)")
c++ -std=c++17 -Wall -Werror $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags idem) "$root/tests/consumers/app.cpp" -o "$t/pc"
check "$t/pc"

echo "--- CMake add_subdirectory"
mkdir -p "$t/cm-sub" && cp "$root/tests/consumers/app.cpp" "$t/cm-sub/"
cat > "$t/cm-sub/CMakeLists.txt" <<C
cmake_minimum_required(VERSION 3.14)
project(consumer CXX)
add_subdirectory("$t/idem" idem)
add_executable(app app.cpp)
target_link_libraries(app PRIVATE idem::idem)
C
cmake -G Ninja -S "$t/cm-sub" -B "$t/cm-sub/build" >/dev/null
cmake --build "$t/cm-sub/build" >/dev/null
check "$t/cm-sub/build/app"

echo "--- CMake find_package after cmake --install"
cmake -G Ninja -S "$t/idem" -B "$t/cm-inst" -DCMAKE_INSTALL_PREFIX="$t/cmprefix" >/dev/null
cmake --install "$t/cm-inst" >/dev/null
mkdir -p "$t/cm-find" && cp "$root/tests/consumers/app.cpp" "$t/cm-find/"
cat > "$t/cm-find/CMakeLists.txt" <<'C'
cmake_minimum_required(VERSION 3.14)
project(consumer CXX)
find_package(idem 0.1 REQUIRED)
add_executable(app app.cpp)
target_link_libraries(app PRIVATE idem::idem)
C
cmake -G Ninja -S "$t/cm-find" -B "$t/cm-find/build" -DCMAKE_PREFIX_PATH="$t/cmprefix" >/dev/null
cmake --build "$t/cm-find/build" >/dev/null
check "$t/cm-find/build/app"

echo "--- CMake find_package after meson install"
mkdir -p "$t/cm-find-meson" && cp "$root/tests/consumers/app.cpp" "$t/cm-find/CMakeLists.txt" "$t/cm-find-meson/"
cmake -G Ninja -S "$t/cm-find-meson" -B "$t/cm-find-meson/build" -DCMAKE_PREFIX_PATH="$t/prefix" >/dev/null
cmake --build "$t/cm-find-meson/build" >/dev/null
check "$t/cm-find-meson/build/app"

echo "--- pkg-config after cmake --install"
pcdir=$(dirname "$(find "$t/cmprefix" -name idem.pc -print -quit)")
c++ -std=c++17 -Wall -Werror $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags idem) "$root/tests/consumers/app.cpp" -o "$t/cm-pc"
check "$t/cm-pc"

echo "--- CMake FetchContent, from a git repository at revision main (as the README shows)"
git init -q -b main "$t/repo" && cp -r "$t/idem/." "$t/repo/"
git -C "$t/repo" add -A && git -C "$t/repo" -c user.name=ci -c user.email=ci@localhost commit -qm vendored
mkdir -p "$t/cm-fetch" && cp "$root/tests/consumers/app.cpp" "$t/cm-fetch/"
cat > "$t/cm-fetch/CMakeLists.txt" <<C
cmake_minimum_required(VERSION 3.14)
project(consumer CXX)
include(FetchContent)
FetchContent_Declare(idem GIT_REPOSITORY "file://$t/repo" GIT_TAG main GIT_SHALLOW TRUE)
FetchContent_MakeAvailable(idem)
add_executable(app app.cpp)
target_link_libraries(app PRIVATE idem::idem)
C
cmake -G Ninja -S "$t/cm-fetch" -B "$t/cm-fetch/build" >/dev/null
cmake --build "$t/cm-fetch/build" >/dev/null
check "$t/cm-fetch/build/app"

echo "consumers: $passed passed, 0 failed"
