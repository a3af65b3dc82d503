// train_db.cpp - the run database (RUN/run.sqlite, train_int.h's Db) and
// the run directory's text files. No libtorch here.
#include "train_int.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace sam_train {

const char* const kSchema =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS run(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS corpora(role TEXT, dir TEXT, identity TEXT,"
    " n_samples INTEGER);"
    "CREATE TABLE IF NOT EXISTS steps(step INTEGER PRIMARY KEY, epoch "
    "INTEGER, loss REAL, lr REAL, wall_s REAL);"
    "CREATE TABLE IF NOT EXISTS epochs(epoch INTEGER PRIMARY KEY, step "
    "INTEGER, val_dice REAL, n_val INTEGER, train_loss REAL, wall_s REAL);"
    // One row per validation instance and epoch: where the mean comes
    // from (a model that ignores the image predicts one blob size for
    // every instance: compare area with pred_area).
    "CREATE TABLE IF NOT EXISTS val_instances(epoch INTEGER, sample INTEGER,"
    " label INTEGER, area INTEGER, pred_area INTEGER, dice REAL,"
    " PRIMARY KEY(epoch, sample, label));";

Db::~Db() {
  end_steps();
  if (db)
    sqlite3_close(db);
}

// A Db without a connection (ranks other than 0 of a data-parallel run)
// writes nothing.
int Db::exec(const char* sql, sf_err* err) {
  if (!db)
    return SF_OK;
  char* m = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &m) != SQLITE_OK) {
    int rc = sf_err_set(err, SF_EDB, "run.sqlite: %s", m ? m : "?");
    sqlite3_free(m);
    return rc;
  }
  return SF_OK;
}

void Db::set(const char* key, const std::string& value) {
  if (!db)
    return;
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(
      db,
      "INSERT OR REPLACE INTO run(key, value) VALUES(?, ?)",
      -1,
      &st,
      nullptr);
  sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, value.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_step(st);
  sqlite3_finalize(st);
}

void Db::add_corpus(
    const char* role,
    const std::string& dir,
    const std::string& identity,
    long long n_samples) {
  if (!db)
    return;
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(
      db, "INSERT INTO corpora VALUES(?, ?, ?, ?)", -1, &st, nullptr);
  char abs[PATH_MAX];
  sqlite3_bind_text(st, 1, role, -1, SQLITE_STATIC);
  sqlite3_bind_text(
      st,
      2,
      realpath(dir.c_str(), abs) ? abs : dir.c_str(),
      -1,
      SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 3, identity.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 4, sqlite3_int64(n_samples));
  sqlite3_step(st);
  sqlite3_finalize(st);
}

void Db::corpora(
    std::vector<std::string>* train,
    std::string* val,
    bool* on_the_fly) {
  sqlite3_stmt* st = nullptr;
  *on_the_fly = false;
  sqlite3_prepare_v2(
      db, "SELECT role, dir FROM corpora ORDER BY rowid", -1, &st, nullptr);
  while (st && sqlite3_step(st) == SQLITE_ROW) {
    std::string role = (const char*)sqlite3_column_text(st, 0);
    std::string dir = (const char*)sqlite3_column_text(st, 1);
    if (role == "val")
      *val = dir;
    else if (role == "on-the-fly")
      *on_the_fly = true;
    else
      train->push_back(dir);
  }
  sqlite3_finalize(st);
}

void Db::add_step(long step, int epoch, double loss, double lr, double wall) {
  if (!db)
    return;
  if (!step_ins)
    sqlite3_prepare_v2(
        db,
        "INSERT OR REPLACE INTO steps VALUES(?, ?, ?, ?, ?)",
        -1,
        &step_ins,
        nullptr);
  sqlite3_bind_int64(step_ins, 1, step);
  sqlite3_bind_int(step_ins, 2, epoch);
  sqlite3_bind_double(step_ins, 3, loss);
  sqlite3_bind_double(step_ins, 4, lr);
  sqlite3_bind_double(step_ins, 5, wall);
  sqlite3_step(step_ins);
  sqlite3_reset(step_ins);
}

void Db::recent_losses(long step, int n, std::vector<double>* out) {
  out->clear();
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(
          db,
          "SELECT loss FROM steps WHERE step > ? AND step <= ? ORDER BY step",
          -1,
          &st,
          nullptr) != SQLITE_OK)
    return;
  sqlite3_bind_int64(st, 1, step - n);
  sqlite3_bind_int64(st, 2, step);
  while (sqlite3_step(st) == SQLITE_ROW)
    out->push_back(sqlite3_column_double(st, 0));
  sqlite3_finalize(st);
}

void Db::end_steps() {
  sqlite3_finalize(step_ins);
  step_ins = nullptr;
}

int write_text(const std::string& path, const std::string& text, sf_err* err) {
  std::string tmp = path + ".tmp";
  FILE* f = fopen(tmp.c_str(), "wb");
  if (!f || fwrite(text.data(), 1, text.size(), f) != text.size() ||
      fflush(f) || fsync(fileno(f))) {
    if (f)
      fclose(f);
    return sf_err_set(err, SF_EIO, "%s: %s", tmp.c_str(), strerror(errno));
  }
  fclose(f);
  if (rename(tmp.c_str(), path.c_str()))
    return sf_err_set(err, SF_EIO, "%s: %s", path.c_str(), strerror(errno));
  return SF_OK;
}

bool exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

} // namespace sam_train
