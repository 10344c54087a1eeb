/*
 * start-retrying.exe: starts the Windows program named by FILEMAP_RETRY_PROGRAM with this
 * program's own arguments, its standard handles and its environment, waits for it and
 * exits with its exit code.  A start that Wine refuses with ERROR_INTERNAL_ERROR (1359),
 * as it now and then does under load, is made again (up to 10 times, said on stderr).
 *
 * scripts/wine-runner points a merged doc-test program (rustdoc, edition 2024) at it as
 * the program to start for each of its doc tests (RUSTDOC_DOCTEST_BIN_PATH): each doc
 * test then runs in a process of its own, and a refused start is not a failed test, as
 * the runner's own retry and the tests' spawn_retrying make it elsewhere.
 *
 * Build (scripts/test-windows):
 *   x86_64-w64-mingw32-gcc -municode -O2 -o start-retrying.exe start_retrying.c
 */
#include <windows.h>
#include <stdio.h>
#include <wchar.h>

#define MAX_LINE 32768
#define ATTEMPTS 10

/* The arguments of this program's command line: what follows its own name. */
static const wchar_t *arguments(const wchar_t *line)
{
    if (*line == L'"') {
        line++;
        while (*line && *line != L'"')
            line++;
        if (*line == L'"')
            line++;
    } else {
        while (*line && *line != L' ' && *line != L'\t')
            line++;
    }
    while (*line == L' ' || *line == L'\t')
        line++;
    return line;
}

int wmain(void)
{
    static wchar_t program[MAX_LINE];
    static wchar_t line[MAX_LINE];
    DWORD len = GetEnvironmentVariableW(L"FILEMAP_RETRY_PROGRAM", program, MAX_LINE);
    if (len == 0 || len >= MAX_LINE) {
        fputs("start-retrying: FILEMAP_RETRY_PROGRAM names no program\n", stderr);
        return 2;
    }
    const wchar_t *rest = arguments(GetCommandLineW());
    if (_snwprintf(line, MAX_LINE, L"\"%ls\" %ls", program, rest) < 0) {
        fputs("start-retrying: the command line is too long\n", stderr);
        return 2;
    }
    line[MAX_LINE - 1] = 0;
    STARTUPINFOW startup = {0};
    startup.cb = sizeof startup;
    startup.dwFlags = STARTF_USESTDHANDLES;
    startup.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
    startup.hStdOutput = GetStdHandle(STD_OUTPUT_HANDLE);
    startup.hStdError = GetStdHandle(STD_ERROR_HANDLE);
    PROCESS_INFORMATION started;
    for (int attempt = 1;; attempt++) {
        if (CreateProcessW(program, line, NULL, NULL, TRUE, 0, NULL, NULL, &startup, &started))
            break;
        DWORD error = GetLastError();
        if (error != ERROR_INTERNAL_ERROR || attempt == ATTEMPTS) {
            fwprintf(stderr, L"start-retrying: cannot start %ls (error %lu)\n", program, error);
            return 1;
        }
        fwprintf(stderr, L"start-retrying: Wine refused to start %ls (error 1359): again\n",
                 program);
        Sleep(100 * attempt);
    }
    CloseHandle(started.hThread);
    WaitForSingleObject(started.hProcess, INFINITE);
    DWORD code = 1;
    if (!GetExitCodeProcess(started.hProcess, &code))
        fputs("start-retrying: the program's exit code is unknown\n", stderr);
    CloseHandle(started.hProcess);
    return (int)code;
}
