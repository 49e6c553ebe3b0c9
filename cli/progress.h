/* ckc progress: live progress of the jobs a command follows.
 *
 * Fed with job summaries (event.job, replies) and event.progress params.
 * On a terminal the active jobs are a block of lines redrawn in place
 * (\r, cursor-up, clear-line), at most every 100 ms. Otherwise plain lines:
 * one at every state change and at most one per job per second between.
 * Final states are the caller's to announce: it removes the job and prints
 * its outcome with ckc_progress_print(). */
#ifndef CKC_PROGRESS_H
#define CKC_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>
#include <jansson.h>

/* What is known of one followed job. */
typedef struct ckc_job_view {
    json_int_t id;
    char state[16];
    char *error; /* the job's error text, or NULL */
    double bytes_done;
    double bytes_total; /* negative while unknown */
    json_int_t files_done;
    json_int_t files_total;
    double rate;    /* bytes/s */
    double eta;     /* seconds, negative while unknown */
    double printed; /* plain mode: when its last line was printed */
    bool changed;   /* plain mode: news since that line */
} ckc_job_view;

typedef struct ckc_progress {
    bool tty;           /* redraw in place */
    ckc_job_view *jobs; /* followed jobs, by arrival */
    size_t n;
    size_t cap;
    int drawn;       /* tty: lines of the block now on screen */
    double drawn_at; /* tty: when the block was last drawn */
    bool dirty;      /* tty: the block is out of date */
} ckc_progress;

void ckc_progress_init(ckc_progress *p, bool tty);
/* Frees the views; does not touch the screen (see ckc_progress_clear). */
void ckc_progress_release(ckc_progress *p);

/* Adds or updates a job from a summary. A new job or state prints a plain
 * line at once (not for final states). Returns the view or NULL (ENOMEM). */
ckc_job_view *ckc_progress_job(ckc_progress *p, const json_t *summary);
/* Applies event.progress params; a job not followed is ignored. */
void ckc_progress_update(ckc_progress *p, const json_t *params);
/* Stops following a job. */
void ckc_progress_remove(ckc_progress *p, json_int_t id);
/* The view of a job, or NULL. */
ckc_job_view *ckc_progress_find(ckc_progress *p, json_int_t id);

/* Shows what is due: redraws the block (tty; force skips the 100 ms limit)
 * or prints the plain lines whose second has come. */
void ckc_progress_draw(ckc_progress *p, bool force);
/* Milliseconds until ckc_progress_draw() has something to do. */
int ckc_progress_wait_ms(const ckc_progress *p);
/* Takes the block off the screen, leaving the cursor where it began. */
void ckc_progress_clear(ckc_progress *p);
/* Leaves the block on the screen as it is and moves below it. */
void ckc_progress_keep(ckc_progress *p);
/* Prints a permanent line (without "\n") on f above the block. */
void ckc_progress_print(ckc_progress *p, FILE *f, const char *line);

#endif
