/* MetaRL's thin layer over MuJoCo 2.2.2.
 *
 * Why it exists: MuJoCo's default error handler prints, appends to MUJOCO_LOG.TXT and calls exit(), and
 * the layout of mjData/mjModel changes between versions. Every entry point here installs a handler that
 * jumps back to the entry point with the message, so an error becomes a return code (and a .NET exception
 * on the other side) and no log file is written; and struct fields are read here, in C, against the
 * headers of the version we were compiled with, so the managed side never depends on a layout.
 */
#include <mujoco/mujoco.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

static __thread jmp_buf *t_jump;
static __thread char t_message[1024];

static void on_error(const char *msg)
{
    strncpy(t_message, msg, sizeof t_message - 1);
    t_message[sizeof t_message - 1] = 0;
    if (t_jump) longjmp(*t_jump, 1);
    abort(); /* unreachable: every entry point that can reach MuJoCo sets t_jump */
}

static void on_warning(const char *msg)
{
    /* Warnings are counted in mjData.warning; the text is kept for the next error report only. */
    strncpy(t_message, msg, sizeof t_message - 1);
    t_message[sizeof t_message - 1] = 0;
}

int mjs_version(void) { return mj_version(); }

void mjs_install(void)
{
    mju_user_error = on_error;
    mju_user_warning = on_warning;
}

const char *mjs_last_message(void) { return t_message; }

/* Runs `body` with errors turned into `fail`. */
#define GUARDED(fail, body)                          \
    do {                                             \
        jmp_buf jb;                                  \
        jmp_buf *volatile previous = t_jump;         \
        t_jump = &jb;                                \
        if (setjmp(jb)) { t_jump = previous; fail; } \
        body;                                        \
        t_jump = previous;                           \
    } while (0)

/* Compiles an MJCF document held in memory. Returns NULL and writes the reason into error on failure. */
mjModel *mjs_load_xml(const char *xml, int length, char *error, int error_size)
{
    mjVFS *vfs = (mjVFS *)malloc(sizeof(mjVFS));
    if (!vfs) { strncpy(error, "out of memory for the virtual file system", error_size - 1); return NULL; }
    mj_defaultVFS(vfs);
    if (mj_makeEmptyFileVFS(vfs, "model.xml", length) != 0) { free(vfs); strncpy(error, "could not create the in-memory model file", error_size - 1); return NULL; }
    memcpy(vfs->filedata[mj_findFileVFS(vfs, "model.xml")], xml, (size_t)length);
    error[0] = 0;
    mjModel *volatile model = NULL;

    GUARDED({ strncpy(error, t_message, error_size - 1); error[error_size - 1] = 0; model = NULL; },
            model = mj_loadXML("model.xml", vfs, error, error_size));
    mj_deleteVFS(vfs);
    free(vfs);
    return model;
}

mjModel *mjs_copy_model(const mjModel *m)
{
    mjModel *volatile copy = NULL;
    GUARDED(return NULL, copy = mj_copyModel(NULL, m));
    return copy;
}

void mjs_delete_model(mjModel *m) { if (m) mj_deleteModel(m); }

mjData *mjs_make_data(const mjModel *m)
{
    mjData *volatile d = NULL;
    GUARDED(return NULL, d = mj_makeData(m));
    return d;
}

void mjs_delete_data(mjData *d) { if (d) mj_deleteData(d); }

/* Sizes: nq, nv, nu, nbody, ngeom, njnt, nsensordata. */
void mjs_sizes(const mjModel *m, int *out)
{
    out[0] = m->nq; out[1] = m->nv; out[2] = m->nu; out[3] = m->nbody;
    out[4] = m->ngeom; out[5] = m->njnt; out[6] = m->nsensordata;
}

double mjs_timestep(const mjModel *m) { return m->opt.timestep; }

/* Approximate native bytes of one mjData (its stack arena and buffer), for the garbage collector's accounting. */
long long mjs_data_bytes(const mjModel *m) { return (long long)m->nstack * (long long)sizeof(mjtNum) + (long long)m->nbuffer; }

int mjs_name2id(const mjModel *m, int type, const char *name)
{
    int volatile id = -1;
    GUARDED(return -1, id = mj_name2id(m, type, name));
    return id;
}

/* Model arrays a task may change (per-task copies of the model): body masses (nbody), inertias (nbody×3),
 * dof damping (nv), geom friction (ngeom×3), actuator control ranges (nu×2), gravity (3). */
double *mjs_body_mass(mjModel *m) { return m->body_mass; }
double *mjs_body_inertia(mjModel *m) { return m->body_inertia; }
double *mjs_dof_damping(mjModel *m) { return m->dof_damping; }
double *mjs_geom_friction(mjModel *m) { return m->geom_friction; }
double *mjs_actuator_ctrlrange(mjModel *m) { return m->actuator_ctrlrange; }
double *mjs_gravity(mjModel *m) { return m->opt.gravity; }

/* Simulation state. */
double *mjs_qpos(mjData *d) { return d->qpos; }
double *mjs_qvel(mjData *d) { return d->qvel; }
double *mjs_ctrl(mjData *d) { return d->ctrl; }
double *mjs_xpos(mjData *d) { return d->xpos; }
double *mjs_sensordata(mjData *d) { return d->sensordata; }
double mjs_time(const mjData *d) { return d->time; }

/* 0 on success, 1 on a MuJoCo error (message in mjs_last_message). */
int mjs_reset(const mjModel *m, mjData *d)
{
    GUARDED(return 1, { mj_resetData(m, d); mj_forward(m, d); });
    return 0;
}

/* Recomputes the model's derived constants (mj_setConst) after masses, inertias or other parameters changed, then
 * resets the data. 0 on success, 1 on a MuJoCo error. */
int mjs_set_const(mjModel *m, mjData *d)
{
    GUARDED(return 1, { mj_setConst(m, d); mj_resetData(m, d); mj_forward(m, d); });
    return 0;
}

int mjs_forward(const mjModel *m, mjData *d)
{
    GUARDED(return 1, mj_forward(m, d));
    return 0;
}

/* Sets the controls and takes `substeps` physics steps. Returns 0 on success, 1 on a MuJoCo error, 2 when the
 * simulation became unstable (MuJoCo's bad position/velocity/acceleration warnings: it has reset the state). */
static int bad_state_warnings(const mjData *d)
{
    return d->warning[mjWARN_BADQPOS].number + d->warning[mjWARN_BADQVEL].number + d->warning[mjWARN_BADQACC].number;
}

int mjs_step(const mjModel *m, mjData *d, const double *ctrl, int substeps)
{
    int before = bad_state_warnings(d);
    if (ctrl && m->nu > 0) memcpy(d->ctrl, ctrl, sizeof(double) * (size_t)m->nu);
    GUARDED(return 1, { for (int i = 0; i < substeps; i++) mj_step(m, d); });
    return bad_state_warnings(d) != before ? 2 : 0;
}
