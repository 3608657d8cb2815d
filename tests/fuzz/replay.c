/*
 * replay.c - a fuzz target without libFuzzer: runs every file of the
 * directories (or the files) named on the command line through
 * LLVMFuzzerTestOneInput once.  ctest runs each target this way over its
 * seed corpus and its regression inputs (tests/fuzz/regressions/), in
 * the release and the sanitizer builds, so an input that once crashed a
 * daemon keeps being checked by `make test`.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long len;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		if (f != NULL)
			fclose(f);
		return 1;
	}
	buf = malloc((size_t)len + 1);
	if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		fclose(f);
		free(buf);
		return 1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

static int
replay_dir(const char *dir, unsigned *n)
{
	struct dirent **names;
	char path[4096];
	int count, i, rc = 0;

	count = scandir(dir, &names, NULL, alphasort);
	if (count < 0)
		return 0; /* no regressions yet: nothing to replay */
	for (i = 0; i < count; i++) {
		if (names[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir,
			    names[i]->d_name);
			rc |= replay_file(path);
			(*n)++;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int
main(int argc, char **argv)
{
	struct stat st;
	unsigned n = 0;
	int i, rc = 0;

	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			rc |= replay_dir(argv[i], &n);
		} else if (stat(argv[i], &st) == 0) {
			rc |= replay_file(argv[i]);
			n++;
		}
	}
	printf("replay: %u inputs\n", n);
	return rc;
}
