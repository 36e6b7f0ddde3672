// rmb's librados binding: a small Node-API addon over the librados C API
// (https://docs.ceph.com/en/latest/rados/api/librados/).
//
// Every object operation is submitted with rados_aio_* on the JS thread and completes on a
// librados thread, which hands the result back through one thread-safe function per client:
// the event loop never waits for Ceph. Blocking calls of the C API (connect, pool lookup,
// object listing, watch flush) run on libuv's thread pool (Napi::AsyncWorker).
// The JS side (src/librados.ts) turns this low-level surface into the contract's IoCtx.
#include <napi.h>
#include <rados/librados.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

class Client;

// An Error carrying `errno` (positive) and `op`, which the JS side maps to a typed error.
Napi::Error ErrnoError(Napi::Env env, int err, const std::string& what) {
  Napi::Error e = Napi::Error::New(env, what + ": " + std::strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  return e;
}

// The contract reads every comparison as `stored <op> given`. omap_cmp does so on the OSD;
// cmpxattr compares `given <op> stored`, so its ordering operators are mirrored.
int MirrorCmp(int op) {
  switch (op) {
    case LIBRADOS_CMPXATTR_OP_GT: return LIBRADOS_CMPXATTR_OP_LT;
    case LIBRADOS_CMPXATTR_OP_GTE: return LIBRADOS_CMPXATTR_OP_LTE;
    case LIBRADOS_CMPXATTR_OP_LT: return LIBRADOS_CMPXATTR_OP_GT;
    case LIBRADOS_CMPXATTR_OP_LTE: return LIBRADOS_CMPXATTR_OP_GTE;
    default: return op;
  }
}

int CmpOpCode(const std::string& s) {
  if (s == "eq") return LIBRADOS_CMPXATTR_OP_EQ;
  if (s == "ne") return LIBRADOS_CMPXATTR_OP_NE;
  if (s == "gt") return LIBRADOS_CMPXATTR_OP_GT;
  if (s == "gte") return LIBRADOS_CMPXATTR_OP_GTE;
  if (s == "lt") return LIBRADOS_CMPXATTR_OP_LT;
  if (s == "lte") return LIBRADOS_CMPXATTR_OP_LTE;
  return -1;
}

std::string BytesOf(const Napi::Value& v) {
  if (v.IsBuffer()) {
    auto b = v.As<Napi::Buffer<char>>();
    return std::string(b.Data(), b.Length());
  }
  return v.ToString().Utf8Value();
}

// A JS array of omap keys as the C API wants them: pointers and lengths into owned strings.
struct KeyList {
  std::vector<std::string> keys;
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  explicit KeyList(Napi::Array a) {
    for (uint32_t j = 0; j < a.Length(); j++) keys.push_back(BytesOf(a.Get(j)));
    for (auto& k : keys) { ptrs.push_back(k.c_str()); lens.push_back(k.size()); }
  }
};

// One in-flight asynchronous operation. Created and finished on the JS thread.
struct Pending {
  explicit Pending(Client* c, Napi::Env env) : client(c), deferred(Napi::Promise::Deferred::New(env)) {}
  virtual ~Pending() {}
  // Settle the promise from the completion's return value `rc` (negative errno on failure).
  virtual void Finish(Napi::Env env, int rc) = 0;
  Client* client;
  Napi::Promise::Deferred deferred;
  rados_completion_t comp = nullptr;
  std::string what;
};

class Client : public Napi::ObjectWrap<Client> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "RadosClient", {
      InstanceMethod("connect", &Client::Connect),
      InstanceMethod("openPool", &Client::OpenPool),
      InstanceMethod("writeOp", &Client::WriteOpM),
      InstanceMethod("readOp", &Client::ReadOpM),
      InstanceMethod("listOpen", &Client::ListOpen),
      InstanceMethod("listNext", &Client::ListNext),
      InstanceMethod("listClose", &Client::ListClose),
      InstanceMethod("watch", &Client::Watch),
      InstanceMethod("unwatch", &Client::Unwatch),
      InstanceMethod("notify", &Client::Notify),
      InstanceMethod("monCommand", &Client::MonCommand),
      InstanceMethod("shutdown", &Client::Shutdown),
    });
  }
  explicit Client(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Client>(info) {}
  ~Client() override { Close(); }

  rados_t cluster = nullptr;
  bool connected = false;
  Napi::ThreadSafeFunction tsfn;
  int inflight = 0;
  std::vector<rados_ioctx_t> pools;

  // Submit bookkeeping: keep the event loop alive only while operations are in flight.
  void Started(Napi::Env env) { if (inflight++ == 0) tsfn.Ref(env); }
  void Done(Napi::Env env) { if (--inflight == 0) tsfn.Unref(env); }

  static void OnComplete(rados_completion_t, void* arg) {
    Pending* p = static_cast<Pending*>(arg);
    p->client->tsfn.NonBlockingCall(p, [](Napi::Env env, Napi::Function, Pending* p) {
      int rc = rados_aio_get_return_value(p->comp);
      Client* c = p->client;
      {
        Napi::HandleScope scope(env);
        p->Finish(env, rc);
      }
      rados_aio_release(p->comp);
      delete p;
      c->Done(env);
    });
  }

  // Create the completion for `p` and count it as in flight. Returns false (and rejects) on error.
  bool Arm(Napi::Env env, Pending* p) {
    int r = rados_aio_create_completion2(p, &Client::OnComplete, &p->comp);
    if (r < 0) {
      p->deferred.Reject(ErrnoError(env, -r, "rados_aio_create_completion2").Value());
      return false;
    }
    Started(env);
    return true;
  }
  // Undo Arm after a failed submit.
  void Disarm(Napi::Env env, Pending* p, int r) {
    p->deferred.Reject(ErrnoError(env, -r, p->what).Value());
    rados_aio_release(p->comp);
    Done(env);
  }

  rados_ioctx_t Pool(const Napi::Value& v, const Napi::Value& ns) {
    uint32_t i = v.As<Napi::Number>().Uint32Value();
    if (i >= pools.size()) throw Napi::Error::New(v.Env(), "bad pool handle");
    std::string n = ns.As<Napi::String>().Utf8Value();
    rados_ioctx_set_namespace(pools[i], n.c_str());
    return pools[i];
  }

  void Close() {
    if (!cluster) return;
    for (auto io : pools) rados_ioctx_destroy(io);
    pools.clear();
    rados_shutdown(cluster);
    cluster = nullptr;
    connected = false;
  }

  Napi::Value Connect(const Napi::CallbackInfo& info);
  Napi::Value OpenPool(const Napi::CallbackInfo& info);
  Napi::Value WriteOpM(const Napi::CallbackInfo& info);
  Napi::Value ReadOpM(const Napi::CallbackInfo& info);
  Napi::Value ListOpen(const Napi::CallbackInfo& info);
  Napi::Value ListNext(const Napi::CallbackInfo& info);
  Napi::Value ListClose(const Napi::CallbackInfo& info);
  Napi::Value Watch(const Napi::CallbackInfo& info);
  Napi::Value Unwatch(const Napi::CallbackInfo& info);
  Napi::Value Notify(const Napi::CallbackInfo& info);
  Napi::Value MonCommand(const Napi::CallbackInfo& info);
  Napi::Value Shutdown(const Napi::CallbackInfo& info);
};

// ---- connect: rados_create2 + conf + rados_connect, on the thread pool ----
class ConnectWorker : public Napi::AsyncWorker {
 public:
  ConnectWorker(Napi::Env env, Client* c, std::string name, std::string conf,
                std::vector<std::pair<std::string, std::string>> sets)
      : Napi::AsyncWorker(env), d(Napi::Promise::Deferred::New(env)), c(c), name(std::move(name)),
        conf(std::move(conf)), sets(std::move(sets)) {}
  Napi::Promise::Deferred d;
  void Execute() override {
    int r = rados_create2(&cl, "ceph", name.c_str(), 0);
    if (r < 0) { fail(r, "rados_create2"); return; }
    r = rados_conf_read_file(cl, conf.empty() ? nullptr : conf.c_str());
    if (r < 0) { fail(r, "reading ceph.conf" + (conf.empty() ? std::string("") : " " + conf)); return; }
    rados_conf_parse_env(cl, nullptr);
    for (auto& kv : sets) {
      r = rados_conf_set(cl, kv.first.c_str(), kv.second.c_str());
      if (r < 0) { fail(r, "setting " + kv.first); return; }
    }
    r = rados_connect(cl);
    if (r < 0) { fail(r, "connecting to the cluster as " + name); return; }
  }
  void fail(int r, const std::string& what) {
    err = -r;
    msg = what;
    if (cl) { rados_shutdown(cl); cl = nullptr; }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (err) { d.Reject(ErrnoError(env, err, msg).Value()); return; }
    c->cluster = cl;
    c->connected = true;
    d.Resolve(env.Undefined());
  }
  void OnError(const Napi::Error& e) override { d.Reject(e.Value()); }
  rados_t cl = nullptr;
  int err = 0;
  std::string msg;
  Client* c;
  std::string name, conf;
  std::vector<std::pair<std::string, std::string>> sets;
};

Napi::Value Client::Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (cluster) throw Napi::Error::New(env, "already connected");
  Napi::Object o = info[0].As<Napi::Object>();
  std::string name = o.Get("name").ToString().Utf8Value();
  std::string conf = o.Has("conf") && o.Get("conf").IsString() ? o.Get("conf").ToString().Utf8Value() : "";
  std::vector<std::pair<std::string, std::string>> sets;
  Napi::Array arr = o.Get("sets").As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Array kv = arr.Get(i).As<Napi::Array>();
    sets.emplace_back(kv.Get(0u).ToString().Utf8Value(), kv.Get(1u).ToString().Utf8Value());
  }
  if (!tsfn) {
    tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                         "rados-completion", 0, 1);
    tsfn.Unref(env);
  }
  auto* w = new ConnectWorker(env, this, name, conf, std::move(sets));
  auto promise = w->d.Promise();
  w->Queue();
  return promise;
}

// ---- pools: rados_ioctx_create may fetch a new osdmap, so it runs on the thread pool ----
class PoolWorker : public Napi::AsyncWorker {
 public:
  PoolWorker(Napi::Env env, Client* c, std::string pool)
      : Napi::AsyncWorker(env), d(Napi::Promise::Deferred::New(env)), c(c), pool(std::move(pool)) {}
  Napi::Promise::Deferred d;
  void Execute() override { r = rados_ioctx_create(c->cluster, pool.c_str(), &io); }
  void OnOK() override {
    Napi::Env env = Env();
    if (r < 0) { d.Reject(ErrnoError(env, -r, "opening pool " + pool).Value()); return; }
    c->pools.push_back(io);
    d.Resolve(Napi::Number::New(env, double(c->pools.size() - 1)));
  }
  void OnError(const Napi::Error& e) override { d.Reject(e.Value()); }
  Client* c;
  std::string pool;
  rados_ioctx_t io = nullptr;
  int r = 0;
};

Napi::Value Client::OpenPool(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!connected) throw Napi::Error::New(env, "not connected");
  auto* w = new PoolWorker(env, this, info[0].ToString().Utf8Value());
  auto promise = w->d.Promise();
  w->Queue();
  return promise;
}

// ---- compound write: writeOp(pool, ns, oid, steps, flags) -> Promise<version> ----
struct WritePending : Pending {
  using Pending::Pending;
  rados_write_op_t op = nullptr;
  std::vector<std::unique_ptr<int>> prvals;
  ~WritePending() override { if (op) rados_release_write_op(op); }
  void Finish(Napi::Env env, int rc) override {
    if (rc < 0) { deferred.Reject(ErrnoError(env, -rc, what).Value()); return; }
    deferred.Resolve(Napi::Number::New(env, double(rados_aio_get_version(comp))));
  }
};

Napi::Value Client::WriteOpM(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!connected) throw Napi::Error::New(env, "not connected");
  rados_ioctx_t io = Pool(info[0], info[1]);
  std::string oid = info[2].ToString().Utf8Value();
  Napi::Array steps = info[3].As<Napi::Array>();
  int flags = info[4].As<Napi::Number>().Int32Value();
  auto* p = new WritePending(this, env);
  auto promise = p->deferred.Promise();
  p->what = "write " + oid;
  p->op = rados_create_write_op();
  for (uint32_t i = 0; i < steps.Length(); i++) {
    Napi::Object s = steps.Get(i).As<Napi::Object>();
    std::string kind = s.Get("op").ToString().Utf8Value();
    if (kind == "assertExists") rados_write_op_assert_exists(p->op);
    else if (kind == "create")
      rados_write_op_create(p->op, s.Get("exclusive").ToBoolean() ? LIBRADOS_CREATE_EXCLUSIVE : LIBRADOS_CREATE_IDEMPOTENT, nullptr);
    else if (kind == "assertVersion")
      rados_write_op_assert_version(p->op, uint64_t(s.Get("version").As<Napi::Number>().Int64Value()));
    else if (kind == "cmpXattr") {
      std::string name = s.Get("name").ToString().Utf8Value(), v = BytesOf(s.Get("value"));
      rados_write_op_cmpxattr(p->op, name.c_str(), uint8_t(MirrorCmp(CmpOpCode(s.Get("cmp").ToString().Utf8Value()))), v.data(), v.size());
    } else if (kind == "omapCmp") {
      std::string k = BytesOf(s.Get("key")), v = BytesOf(s.Get("value"));
      p->prvals.emplace_back(new int(0));
      rados_write_op_omap_cmp2(p->op, k.c_str(), uint8_t(CmpOpCode(s.Get("cmp").ToString().Utf8Value())), v.data(), k.size(), v.size(), p->prvals.back().get());
    } else if (kind == "writeFull") {
      auto b = s.Get("data").As<Napi::Buffer<char>>();
      rados_write_op_write_full(p->op, b.Data(), b.Length());
    } else if (kind == "write") {
      auto b = s.Get("data").As<Napi::Buffer<char>>();
      rados_write_op_write(p->op, b.Data(), b.Length(), uint64_t(s.Get("offset").As<Napi::Number>().Int64Value()));
    } else if (kind == "append") {
      auto b = s.Get("data").As<Napi::Buffer<char>>();
      rados_write_op_append(p->op, b.Data(), b.Length());
    } else if (kind == "truncate")
      rados_write_op_truncate(p->op, uint64_t(s.Get("size").As<Napi::Number>().Int64Value()));
    else if (kind == "remove") rados_write_op_remove(p->op);
    else if (kind == "setXattr") {
      std::string name = s.Get("name").ToString().Utf8Value(), v = BytesOf(s.Get("value"));
      rados_write_op_setxattr(p->op, name.c_str(), v.data(), v.size());
    } else if (kind == "rmXattr") {
      std::string name = s.Get("name").ToString().Utf8Value();
      rados_write_op_rmxattr(p->op, name.c_str());
    } else if (kind == "omapSet") {
      KeyList k(s.Get("keys").As<Napi::Array>()), v(s.Get("values").As<Napi::Array>());
      rados_write_op_omap_set2(p->op, k.ptrs.data(), v.ptrs.data(), k.lens.data(), v.lens.data(), k.keys.size());
    } else if (kind == "omapRm") {
      KeyList k(s.Get("keys").As<Napi::Array>());
      rados_write_op_omap_rm_keys2(p->op, k.ptrs.data(), k.lens.data(), k.keys.size());
    } else if (kind == "omapClear") rados_write_op_omap_clear(p->op);
    else {
      delete p;
      throw Napi::Error::New(env, "unknown write step " + kind);
    }
  }
  if (!Arm(env, p)) { delete p; return promise; }
  int r = rados_aio_write_op_operate(p->op, io, p->comp, oid.c_str(), nullptr, flags);
  if (r < 0) { Disarm(env, p, r); delete p; }
  return promise;
}

// ---- compound read: readOp(pool, ns, oid, steps, flags) -> Promise<{version, results}> ----
struct ReadStepOut {
  std::string kind;
  int prval = 0;
  uint64_t size = 0;
  time_t mtime = 0;
  char* buf = nullptr;
  size_t len = 0, got = 0;
  rados_xattrs_iter_t xit = nullptr;
  rados_omap_iter_t oit = nullptr;
  unsigned char more = 0;
};

struct ReadPending : Pending {
  using Pending::Pending;
  rados_read_op_t op = nullptr;
  std::vector<std::unique_ptr<ReadStepOut>> outs;
  ~ReadPending() override {
    if (op) rados_release_read_op(op);
    for (auto& o : outs) {
      if (o->buf) free(o->buf);
      if (o->xit) rados_getxattrs_end(o->xit);
      if (o->oit) rados_omap_get_end(o->oit);
    }
  }
  static Napi::Array OmapPairs(Napi::Env env, rados_omap_iter_t it) {
    Napi::Array a = Napi::Array::New(env);
    if (!it) return a;
    uint32_t n = 0;
    for (;;) {
      char *k = nullptr, *v = nullptr;
      size_t kl = 0, vl = 0;
      if (rados_omap_get_next2(it, &k, &v, &kl, &vl) < 0 || !k) break;
      Napi::Array pair = Napi::Array::New(env, 2);
      pair.Set(0u, Napi::String::New(env, k, kl));
      pair.Set(1u, Napi::Buffer<char>::Copy(env, v ? v : "", vl));
      a.Set(n++, pair);
    }
    return a;
  }
  void Finish(Napi::Env env, int rc) override {
    if (rc < 0) { deferred.Reject(ErrnoError(env, -rc, what).Value()); return; }
    uint64_t version = rados_aio_get_version(comp);
    Napi::Array results = Napi::Array::New(env, outs.size());
    for (uint32_t i = 0; i < outs.size(); i++) {
      ReadStepOut& o = *outs[i];
      if (o.prval < 0) { deferred.Reject(ErrnoError(env, -o.prval, what + " (" + o.kind + ")").Value()); return; }
      Napi::Value v = env.Null();
      if (o.kind == "stat") {
        Napi::Object s = Napi::Object::New(env);
        s.Set("size", Napi::Number::New(env, double(o.size)));
        s.Set("mtimeMs", Napi::Number::New(env, double(o.mtime) * 1000));
        s.Set("version", Napi::Number::New(env, double(version)));
        v = s;
      } else if (o.kind == "read") {
        char* b = o.buf;
        o.buf = nullptr;  // ownership moves to the Buffer
        v = Napi::Buffer<char>::New(env, b, o.got, [](Napi::Env, char* d) { free(d); });
      } else if (o.kind == "getXattrs") {
        Napi::Array a = Napi::Array::New(env);
        uint32_t n = 0;
        for (;;) {
          const char *name = nullptr, *val = nullptr;
          size_t vl = 0;
          if (rados_getxattrs_next(o.xit, &name, &val, &vl) < 0 || !name) break;
          Napi::Array pair = Napi::Array::New(env, 2);
          pair.Set(0u, Napi::String::New(env, name));
          pair.Set(1u, Napi::Buffer<char>::Copy(env, val ? val : "", vl));
          a.Set(n++, pair);
        }
        v = a;
      } else if (o.kind == "omapGetByKeys") {
        v = OmapPairs(env, o.oit);
      } else if (o.kind == "omapList") {
        Napi::Object page = Napi::Object::New(env);
        page.Set("entries", OmapPairs(env, o.oit));
        page.Set("more", Napi::Boolean::New(env, o.more != 0));
        v = page;
      }
      results.Set(i, v);
    }
    Napi::Object r = Napi::Object::New(env);
    r.Set("version", Napi::Number::New(env, double(version)));
    r.Set("results", results);
    deferred.Resolve(r);
  }
};

Napi::Value Client::ReadOpM(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!connected) throw Napi::Error::New(env, "not connected");
  rados_ioctx_t io = Pool(info[0], info[1]);
  std::string oid = info[2].ToString().Utf8Value();
  Napi::Array steps = info[3].As<Napi::Array>();
  int flags = info[4].As<Napi::Number>().Int32Value();
  auto* p = new ReadPending(this, env);
  auto promise = p->deferred.Promise();
  p->what = "read " + oid;
  p->op = rados_create_read_op();
  for (uint32_t i = 0; i < steps.Length(); i++) {
    Napi::Object s = steps.Get(i).As<Napi::Object>();
    p->outs.emplace_back(new ReadStepOut());
    ReadStepOut* o = p->outs.back().get();
    o->kind = s.Get("op").ToString().Utf8Value();
    if (o->kind == "assertExists") rados_read_op_assert_exists(p->op);
    else if (o->kind == "assertVersion")
      rados_read_op_assert_version(p->op, uint64_t(s.Get("version").As<Napi::Number>().Int64Value()));
    else if (o->kind == "omapCmp") {
      std::string k = BytesOf(s.Get("key")), v = BytesOf(s.Get("value"));
      rados_read_op_omap_cmp2(p->op, k.c_str(), uint8_t(CmpOpCode(s.Get("cmp").ToString().Utf8Value())), v.data(), k.size(), v.size(), &o->prval);
    } else if (o->kind == "stat") rados_read_op_stat(p->op, &o->size, &o->mtime, &o->prval);
    else if (o->kind == "read") {
      o->len = size_t(s.Get("length").As<Napi::Number>().Int64Value());
      o->buf = static_cast<char*>(malloc(o->len ? o->len : 1));
      if (!o->buf) { delete p; throw Napi::Error::New(env, "out of memory for a read buffer"); }
      rados_read_op_read(p->op, uint64_t(s.Get("offset").As<Napi::Number>().Int64Value()), o->len, o->buf, &o->got, &o->prval);
    } else if (o->kind == "getXattrs") rados_read_op_getxattrs(p->op, &o->xit, &o->prval);
    else if (o->kind == "omapGetByKeys") {
      KeyList k(s.Get("keys").As<Napi::Array>());
      rados_read_op_omap_get_vals_by_keys2(p->op, k.ptrs.data(), k.keys.size(), k.lens.data(), &o->oit, &o->prval);
    } else if (o->kind == "omapList") {
      std::string after = s.Get("startAfter").ToString().Utf8Value(), prefix = s.Get("prefix").ToString().Utf8Value();
      uint64_t max = uint64_t(s.Get("max").As<Napi::Number>().Int64Value());
      rados_read_op_omap_get_vals2(p->op, after.c_str(), prefix.c_str(), max, &o->oit, &o->more, &o->prval);
    } else {
      delete p;
      throw Napi::Error::New(env, "unknown read step " + o->kind);
    }
  }
  if (!Arm(env, p)) { delete p; return promise; }
  int r = rados_aio_read_op_operate(p->op, io, p->comp, oid.c_str(), flags);
  if (r < 0) { Disarm(env, p, r); delete p; }
  return promise;
}

// ---- listing: listOpen(pool, ns) -> handle; listNext(handle, max) on the thread pool ----
// A listing keeps its own ioctx and rados_list_ctx_t between pages (RADOS cursors are not
// portable through the C API); the JS side closes it at the end or after it sat idle.
struct ListState {
  rados_ioctx_t io = nullptr;
  rados_list_ctx_t ctx = nullptr;
  bool busy = false;
};

class ListWorker : public Napi::AsyncWorker {
 public:
  ListWorker(Napi::Env env, ListState* st, uint32_t max)
      : Napi::AsyncWorker(env), d(Napi::Promise::Deferred::New(env)), st(st), max(max) {}
  Napi::Promise::Deferred d;
  void Execute() override {
    while (objs.size() < max) {
      const char *entry = nullptr, *key = nullptr, *nspace = nullptr;
      size_t el = 0, kl = 0, nl = 0;
      int n = rados_nobjects_list_next2(st->ctx, &entry, &key, &nspace, &el, &kl, &nl);
      if (n == -ENOENT) { end = true; break; }
      if (n < 0) { r = n; break; }
      objs.emplace_back(std::string(nspace ? nspace : "", nl), std::string(entry, el));
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    st->busy = false;
    if (r < 0) { d.Reject(ErrnoError(env, -r, "listing objects").Value()); return; }
    Napi::Object page = Napi::Object::New(env);
    Napi::Array a = Napi::Array::New(env, objs.size());
    for (uint32_t i = 0; i < objs.size(); i++) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("namespace", Napi::String::New(env, objs[i].first));
      o.Set("oid", Napi::String::New(env, objs[i].second));
      a.Set(i, o);
    }
    page.Set("objects", a);
    page.Set("end", Napi::Boolean::New(env, end));
    d.Resolve(page);
  }
  void OnError(const Napi::Error& e) override { st->busy = false; d.Reject(e.Value()); }
  ListState* st;
  uint32_t max;
  bool end = false;
  int r = 0;
  std::vector<std::pair<std::string, std::string>> objs;
};

Napi::Value Client::ListOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!connected) throw Napi::Error::New(env, "not connected");
  uint32_t i = info[0].As<Napi::Number>().Uint32Value();
  if (i >= pools.size()) throw Napi::Error::New(env, "bad pool handle");
  std::string ns = info[1].ToString().Utf8Value();
  auto* st = new ListState();
  int r = rados_ioctx_create2(cluster, rados_ioctx_get_id(pools[i]), &st->io);
  if (r < 0) { delete st; throw ErrnoError(env, -r, "listing ioctx"); }
  rados_ioctx_set_namespace(st->io, ns == "\x01" ? LIBRADOS_ALL_NSPACES : ns.c_str());
  r = rados_nobjects_list_open(st->io, &st->ctx);
  if (r < 0) { rados_ioctx_destroy(st->io); delete st; throw ErrnoError(env, -r, "opening a listing"); }
  return Napi::External<ListState>::New(env, st);
}

Napi::Value Client::ListNext(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* st = info[0].As<Napi::External<ListState>>().Data();
  if (!st->ctx) throw Napi::Error::New(env, "listing closed");
  if (st->busy) throw Napi::Error::New(env, "listing page already in progress");
  st->busy = true;
  auto* w = new ListWorker(env, st, info[1].As<Napi::Number>().Uint32Value());
  auto promise = w->d.Promise();
  w->Queue();
  return promise;
}

Napi::Value Client::ListClose(const Napi::CallbackInfo& info) {
  auto* st = info[0].As<Napi::External<ListState>>().Data();
  if (st->busy) throw Napi::Error::New(info.Env(), "listing page in progress");
  if (st->ctx) {
    rados_nobjects_list_close(st->ctx);
    rados_ioctx_destroy(st->io);
    st->ctx = nullptr;
    delete st;
  }
  return info.Env().Undefined();
}

// ---- watch/notify ----
// A watch owns an ioctx bound to its namespace (acks and unwatch need it) and a thread-safe
// function to its JS callback, called as cb(null, payload, notifierId) or cb(errno).
struct WatchState {
  rados_ioctx_t io = nullptr;
  std::string oid;
  uint64_t cookie = 0;
  Napi::ThreadSafeFunction cb;
};
struct NotifyMsg {
  std::string payload;
  uint64_t notifier = 0;
  int err = 0;
};

void OnWatchNotify(void* arg, uint64_t notify_id, uint64_t cookie, uint64_t notifier_id, void* data, size_t len) {
  auto* w = static_cast<WatchState*>(arg);
  rados_notify_ack(w->io, w->oid.c_str(), notify_id, cookie, nullptr, 0);
  auto* m = new NotifyMsg{std::string(static_cast<char*>(data), len), notifier_id, 0};
  w->cb.NonBlockingCall(m, [](Napi::Env env, Napi::Function fn, NotifyMsg* m) {
    fn.Call({env.Null(), Napi::Buffer<char>::Copy(env, m->payload.data(), m->payload.size()),
             Napi::String::New(env, std::to_string(m->notifier))});
    delete m;
  });
}
void OnWatchError(void* arg, uint64_t, int err) {
  auto* w = static_cast<WatchState*>(arg);
  auto* m = new NotifyMsg{"", 0, -err};
  w->cb.NonBlockingCall(m, [](Napi::Env env, Napi::Function fn, NotifyMsg* m) {
    fn.Call({Napi::Number::New(env, m->err)});
    delete m;
  });
}

struct WatchPending : Pending {
  using Pending::Pending;
  WatchState* w = nullptr;
  void Finish(Napi::Env env, int rc) override {
    if (rc < 0) {
      deferred.Reject(ErrnoError(env, -rc, what).Value());
      w->cb.Release();
      rados_ioctx_destroy(w->io);
      delete w;
      return;
    }
    deferred.Resolve(Napi::External<WatchState>::New(env, w));
  }
};

Napi::Value Client::Watch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!connected) throw Napi::Error::New(env, "not connected");
  rados_ioctx_t base = Pool(info[0], info[1]);
  auto* w = new WatchState();
  w->oid = info[2].ToString().Utf8Value();
  int r = rados_ioctx_create2(cluster, rados_ioctx_get_id(base), &w->io);
  if (r < 0) { delete w; throw ErrnoError(env, -r, "watch ioctx"); }
  std::string ns = info[1].ToString().Utf8Value();
  rados_ioctx_set_namespace(w->io, ns.c_str());
  w->cb = Napi::ThreadSafeFunction::New(env, info[3].As<Napi::Function>(), "rados-watch", 0, 1);
  w->cb.Unref(env);  // a watch alone does not keep the process alive
  auto* p = new WatchPending(this, env);
  p->w = w;
  p->what = "watch " + w->oid;
  auto promise = p->deferred.Promise();
  if (!Arm(env, p)) { w->cb.Release(); rados_ioctx_destroy(w->io); delete w; delete p; return promise; }
  r = rados_aio_watch2(w->io, w->oid.c_str(), p->comp, &w->cookie, OnWatchNotify, OnWatchError,
                       info[4].As<Napi::Number>().Uint32Value(), w);
  if (r < 0) { Disarm(env, p, r); w->cb.Release(); rados_ioctx_destroy(w->io); delete w; delete p; }
  return promise;
}

// Unwatch, then (on the thread pool) flush callbacks already queued before freeing the state.
class WatchFlushWorker : public Napi::AsyncWorker {
 public:
  WatchFlushWorker(Napi::Env env, rados_t cl, WatchState* w, Napi::Promise::Deferred d, int rc)
      : Napi::AsyncWorker(env), cl(cl), w(w), d(d), rc(rc) {}
  void Execute() override { rados_watch_flush(cl); }
  void OnOK() override {
    w->cb.Release();
    rados_ioctx_destroy(w->io);
    delete w;
    if (rc < 0 && rc != -ENOENT && rc != -ENOTCONN) d.Reject(ErrnoError(Env(), -rc, "unwatch").Value());
    else d.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& e) override { d.Reject(e.Value()); }
  rados_t cl;
  WatchState* w;
  Napi::Promise::Deferred d;
  int rc;
};

struct UnwatchPending : Pending {
  using Pending::Pending;
  WatchState* w = nullptr;
  void Finish(Napi::Env env, int rc) override {
    (new WatchFlushWorker(env, client->cluster, w, deferred, rc))->Queue();
  }
};

Napi::Value Client::Unwatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!connected) throw Napi::Error::New(env, "not connected");
  auto* w = info[0].As<Napi::External<WatchState>>().Data();
  auto* p = new UnwatchPending(this, env);
  p->w = w;
  p->what = "unwatch " + w->oid;
  auto promise = p->deferred.Promise();
  if (!Arm(env, p)) { delete p; return promise; }
  int r = rados_aio_unwatch(w->io, w->cookie, p->comp);
  if (r < 0) { Disarm(env, p, r); delete p; }
  return promise;
}

struct NotifyPending : Pending {
  using Pending::Pending;
  char* reply = nullptr;
  size_t replyLen = 0;
  ~NotifyPending() override { if (reply) rados_buffer_free(reply); }
  void Finish(Napi::Env env, int rc) override {
    if (rc < 0 && rc != -ETIMEDOUT) { deferred.Reject(ErrnoError(env, -rc, what).Value()); return; }
    Napi::Object res = Napi::Object::New(env);
    Napi::Array acks = Napi::Array::New(env), timeouts = Napi::Array::New(env);
    if (reply) {
      struct notify_ack_t* a = nullptr;
      struct notify_timeout_t* t = nullptr;
      size_t na = 0, nt = 0;
      if (rados_decode_notify_response(reply, replyLen, &a, &na, &t, &nt) == 0) {
        for (size_t i = 0; i < na; i++)
          acks.Set(uint32_t(i), Napi::String::New(env, std::to_string(a[i].notifier_id) + "." + std::to_string(a[i].cookie)));
        for (size_t i = 0; i < nt; i++)
          timeouts.Set(uint32_t(i), Napi::String::New(env, std::to_string(t[i].notifier_id) + "." + std::to_string(t[i].cookie)));
        rados_free_notify_response(a, na, t);
      }
    }
    res.Set("acks", acks);
    res.Set("timeouts", timeouts);
    deferred.Resolve(res);
  }
};

Napi::Value Client::Notify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!connected) throw Napi::Error::New(env, "not connected");
  rados_ioctx_t io = Pool(info[0], info[1]);
  std::string oid = info[2].ToString().Utf8Value();
  std::string payload = BytesOf(info[3]);
  uint64_t timeoutMs = uint64_t(info[4].As<Napi::Number>().Int64Value());
  auto* p = new NotifyPending(this, env);
  p->what = "notify " + oid;
  auto promise = p->deferred.Promise();
  if (!Arm(env, p)) { delete p; return promise; }
  int r = rados_aio_notify(io, oid.c_str(), p->comp, payload.data(), int(payload.size()), timeoutMs, &p->reply, &p->replyLen);
  if (r < 0) { Disarm(env, p, r); delete p; }
  return promise;
}

// ---- monCommand(json) -> Promise<string>: one monitor command (rados_mon_command) ----
class MonCommandWorker : public Napi::AsyncWorker {
 public:
  MonCommandWorker(Napi::Env env, rados_t cl, std::string cmd)
      : Napi::AsyncWorker(env), d(Napi::Promise::Deferred::New(env)), cl(cl), cmd(std::move(cmd)) {}
  Napi::Promise::Deferred d;
  void Execute() override {
    const char* cmds[1] = {cmd.c_str()};
    char *outbuf = nullptr, *outs = nullptr;
    size_t outlen = 0, outslen = 0;
    r = rados_mon_command(cl, cmds, 1, "", 0, &outbuf, &outlen, &outs, &outslen);
    if (outbuf) { out.assign(outbuf, outlen); rados_buffer_free(outbuf); }
    if (outs) { status.assign(outs, outslen); rados_buffer_free(outs); }
  }
  void OnOK() override {
    if (r < 0) { d.Reject(ErrnoError(Env(), -r, "mon command " + cmd + ": " + status).Value()); return; }
    d.Resolve(Napi::String::New(Env(), out));
  }
  void OnError(const Napi::Error& e) override { d.Reject(e.Value()); }
  rados_t cl;
  std::string cmd, out, status;
  int r = 0;
};

Napi::Value Client::MonCommand(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!connected) throw Napi::Error::New(env, "not connected");
  auto* w = new MonCommandWorker(env, cluster, info[0].ToString().Utf8Value());
  auto promise = w->d.Promise();
  w->Queue();
  return promise;
}

Napi::Value Client::Shutdown(const Napi::CallbackInfo& info) {
  Close();
  if (tsfn) { tsfn.Release(); tsfn = Napi::ThreadSafeFunction(); }
  return info.Env().Undefined();
}

Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  exports.Set("RadosClient", Client::Init(env));
  exports.Set("ALL_NSPACES", Napi::String::New(env, LIBRADOS_ALL_NSPACES));
  return exports;
}

}  // namespace

NODE_API_MODULE(rados_addon, InitAll)
