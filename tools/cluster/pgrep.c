/* pgrep for the XCom sidecar image (tools/cluster/build-images): Debian's static busybox has no pgrep,
 * and KubernetesPodOperator stops its XCom sidecar with `kill -2 $(pgrep -u $(id -u) -f 'sh')`. Without
 * it the sidecar keeps running and the pod never ends as Succeeded.
 *
 * The procps options that command uses: pgrep [-u EUID] [-f] PATTERN. PATTERN is an extended regular
 * expression matched against the process name, or with -f its whole command line; every matching
 * process but this one is printed, one PID a line. Exit 0 when one matched, 1 when none, 2 on bad usage.
 * Static: gcc -static -O2 -o pgrep pgrep.c
 */
#include <dirent.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int read_file(const char *path, char *buf, size_t size) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (int)n;
}

static long effective_uid(const char *pid) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%s/status", pid);
    if (read_file(path, buf, sizeof buf) < 0) return -1;
    char *line = strstr(buf, "\nUid:");
    long real, effective;
    if (!line || sscanf(line + 5, "%ld %ld", &real, &effective) != 2) return -1;
    return effective;
}

int main(int argc, char **argv) {
    long uid = -1;
    int full = 0, opt;
    while ((opt = getopt(argc, argv, "u:f")) != -1) {
        if (opt == 'u') uid = strtol(optarg, NULL, 10);
        else if (opt == 'f') full = 1;
        else return 2;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "usage: pgrep [-u EUID] [-f] PATTERN\n");
        return 2;
    }
    regex_t pattern;
    if (regcomp(&pattern, argv[optind], REG_EXTENDED | REG_NOSUB) != 0) {
        fprintf(stderr, "pgrep: bad pattern\n");
        return 2;
    }
    DIR *proc = opendir("/proc");
    if (!proc) return 2;
    long self = (long)getpid();
    int found = 0;
    struct dirent *entry;
    while ((entry = readdir(proc)) != NULL) {
        const char *pid = entry->d_name;
        if (strspn(pid, "0123456789") != strlen(pid) || atol(pid) == self) continue;
        if (uid >= 0 && effective_uid(pid) != uid) continue;
        char path[64], text[4096];
        snprintf(path, sizeof path, "/proc/%s/%s", pid, full ? "cmdline" : "comm");
        int n = read_file(path, text, sizeof text);
        if (n <= 0) continue;
        for (int i = 0; i < n; i++)
            if (text[i] == '\0' || text[i] == '\n') text[i] = ' ';
        while (n > 0 && text[n - 1] == ' ') text[--n] = '\0';
        if (regexec(&pattern, text, 0, NULL, 0) == 0) {
            printf("%s\n", pid);
            found = 1;
        }
    }
    closedir(proc);
    return found ? 0 : 1;
}
