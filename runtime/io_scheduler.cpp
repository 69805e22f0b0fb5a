#include "runtime/io_scheduler.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/detail/set_thread_name.hpp>
#include <caf/detail/simple_actor_clock.hpp>
#include <caf/execution_unit.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

namespace inferstack::runtime {

namespace {

namespace net = boost::asio;

class io_coordinator;

/// A job waiting in an io_context's queue. Owns one reference: a queue dropped at shutdown
/// releases what it still holds.
struct queued_job {
  caf::resumable* job;
  explicit queued_job(caf::resumable* j) : job(j) {}
  queued_job(queued_job&& other) noexcept : job(other.job) { other.job = nullptr; }
  queued_job(const queued_job&) = delete;
  ~queued_job() {
    if (job) caf::scheduler::abstract_coordinator::cleanup_and_release(job);
  }
  caf::resumable* take() { return std::exchange(job, nullptr); }
};

/// One I/O thread as CAF sees it: jobs it runs, and jobs its actors make ready.
///
/// Jobs made ready on the worker's own thread go to a local run queue that one asio handler
/// drains. Posting each job to the io_context instead would put asio's reactor between every
/// two of them (it polls epoll whenever its task comes round in the queue): a request's chain
/// of messages (flow -> authorizer -> flow -> router -> flow -> picker -> flow) cost nine
/// epoll_wait calls before the request went out.
class io_worker : public caf::execution_unit {
 public:
  io_worker(io_coordinator& owner, caf::actor_system& system, size_t throughput, size_t index)
      : caf::execution_unit(&system), owner_(owner), throughput_(throughput), index_(index) {}

  void exec_later(caf::resumable* job) override;

  /// From any thread: the job runs behind what the io_context has queued.
  void post(caf::resumable* job) {
    net::post(*context, [this, queued = queued_job{job}]() mutable { run(queued.take()); });
  }

  /// From this worker's own thread only: the job runs in the current drain, or in one posted
  /// for it.
  void schedule_local(caf::resumable* job) {
    local_.push_back(job);
    if (!draining_ && !drain_posted_) post_drain();
  }

  /// Destroys the (stopped) io_context and what is still queued on it.
  void drop_queue() {
    context.reset();
    release_local();
  }

  io_coordinator& owner() { return owner_; }
  size_t index() const { return index_; }

  std::unique_ptr<net::io_context> context = std::make_unique<net::io_context>(1);

 private:
  /// At most this many jobs per drain, then the sockets get their turn.
  static constexpr size_t max_jobs_per_drain = 64;

  void post_drain() {
    drain_posted_ = true;
    net::post(*context, [this] { drain(); });
  }

  void drain() {
    drain_posted_ = false;
    draining_ = true;
    for (size_t n = 0; n < max_jobs_per_drain && !local_.empty(); ++n) {
      auto* job = local_.front();
      local_.pop_front();
      run(job);
    }
    draining_ = false;
    if (!local_.empty()) post_drain();
  }

  void run(caf::resumable* job) {
    switch (job->resume(this, throughput_)) {
      case caf::resumable::resume_later:
        post(job);  // behind what is queued meanwhile: sockets are not starved
        break;
      case caf::resumable::done:
      case caf::resumable::awaiting_message:
        intrusive_ptr_release(job);
        break;
      case caf::resumable::shutdown_execution_unit:
        break;
    }
  }

  /// Each job in the local queue holds a reference.
  void release_local() {
    std::deque<caf::resumable*> jobs;
    jobs.swap(local_);
    for (auto* job : jobs)
      caf::scheduler::abstract_coordinator::cleanup_and_release(job);
  }

  io_coordinator& owner_;
  size_t throughput_;
  size_t index_;
  std::deque<caf::resumable*> local_;  ///< touched on this worker's thread only
  bool draining_ = false;
  bool drain_posted_ = false;
};

thread_local io_worker* current_worker = nullptr;

void io_worker::exec_later(caf::resumable* job) {
  // Called by an actor running on this worker, so normally on its thread.
  if (current_worker == this)
    schedule_local(job);
  else
    post(job);
}

/// CAF's clock, woken only when it must be. CAF's thread_safe_actor_clock hands every timeout
/// set or cancelled to its thread through a queue -- a broadcast and a wake of that thread per
/// call, i.e. two or three per request (the reply timeout of each request, then the cancel when
/// its actor ends): on a loaded pod a seventh of the CPU. Here a caller changes the schedule
/// itself, under a lock, and wakes the clock thread only when the earliest due time moves ahead
/// of the one it sleeps until; a reply timeout minutes away never does, a cancel never needs to.
class lean_clock : public caf::detail::simple_actor_clock {
 public:
  using super = caf::detail::simple_actor_clock;

  void set_ordinary_timeout(time_point t, caf::abstract_actor* self, caf::atom_value type,
                            uint64_t id) override {
    std::lock_guard guard{mutex_};
    super::set_ordinary_timeout(t, self, type, id);
    wake_if_earlier();
  }
  void set_request_timeout(time_point t, caf::abstract_actor* self, caf::message_id id) override {
    std::lock_guard guard{mutex_};
    super::set_request_timeout(t, self, id);
    wake_if_earlier();
  }
  void set_multi_timeout(time_point t, caf::abstract_actor* self, caf::atom_value type,
                         uint64_t id) override {
    std::lock_guard guard{mutex_};
    super::set_multi_timeout(t, self, type, id);
    wake_if_earlier();
  }
  void schedule_message(time_point t, caf::strong_actor_ptr receiver,
                        caf::mailbox_element_ptr content) override {
    std::lock_guard guard{mutex_};
    super::schedule_message(t, std::move(receiver), std::move(content));
    wake_if_earlier();
  }
  void schedule_message(time_point t, caf::group target, caf::strong_actor_ptr sender,
                        caf::message content) override {
    std::lock_guard guard{mutex_};
    super::schedule_message(t, std::move(target), std::move(sender), std::move(content));
    wake_if_earlier();
  }
  void cancel_ordinary_timeout(caf::abstract_actor* self, caf::atom_value type) override {
    std::lock_guard guard{mutex_};
    super::cancel_ordinary_timeout(self, type);
  }
  void cancel_request_timeout(caf::abstract_actor* self, caf::message_id id) override {
    std::lock_guard guard{mutex_};
    super::cancel_request_timeout(self, id);
  }
  void cancel_timeouts(caf::abstract_actor* self) override {
    std::lock_guard guard{mutex_};
    super::cancel_timeouts(self);
  }
  void cancel_all() override {
    std::lock_guard guard{mutex_};
    super::cancel_all();
  }

  /// The clock thread: ships what falls due, until cancel_dispatch_loop.
  void run_dispatch_loop() {
    std::unique_lock lock{mutex_};
    while (!stopped_) {
      if (schedule_.empty()) {
        sleeping_until_ = time_point::max();
        woken_.wait(lock);
        continue;
      }
      auto due = schedule_.begin()->first;
      if (due > now()) {
        sleeping_until_ = due;
        woken_.wait_until(lock, due);
        continue;
      }
      sleeping_until_ = time_point::min();  // awake: no caller needs to wake it
      auto expired = take_expired(now());
      // Shipped outside the lock: an enqueue may end an actor, whose cleanup cancels its
      // timeouts here.
      lock.unlock();
      for (auto& event : expired)
        ship(*event);
      expired.clear();
      lock.lock();
    }
  }

  void cancel_dispatch_loop() {
    std::lock_guard guard{mutex_};
    stopped_ = true;
    woken_.notify_all();
  }

 private:
  void wake_if_earlier() {
    if (!schedule_.empty() && schedule_.begin()->first < sleeping_until_) {
      sleeping_until_ = time_point::min();  // one wake is enough until it sleeps again
      woken_.notify_one();
    }
  }

  /// Removes the entries due by `t` (and their cancel links), in order.
  std::vector<unique_delayed_event_ptr> take_expired(time_point t) {
    std::vector<unique_delayed_event_ptr> out;
    auto i = schedule_.begin();
    while (i != schedule_.end() && i->first <= t) {
      if (i->second->backlink != actor_lookup_.end()) actor_lookup_.erase(i->second->backlink);
      out.push_back(std::move(i->second));
      i = schedule_.erase(i);
    }
    return out;
  }

  std::mutex mutex_;
  std::condition_variable woken_;
  time_point sleeping_until_ = time_point::min();
  bool stopped_ = false;
};

class io_coordinator : public caf::scheduler::abstract_coordinator, public io_threads {
 public:
  explicit io_coordinator(caf::actor_system& system) : abstract_coordinator(system) {}

  void start() override {
    auto count = std::max<size_t>(1, num_workers());
    for (size_t i = 0; i < count; ++i) {
      workers_.push_back(std::make_unique<io_worker>(*this, system(), max_throughput(), i));
      guards_.emplace_back(workers_.back()->context->get_executor());
    }
    for (auto& w : workers_)
      threads_.emplace_back([this, w = w.get()] {
        caf::detail::set_thread_name("inferstack.io");
        system().thread_started();
        current_worker = w;
        w->context->run();
        current_worker = nullptr;
        system().thread_terminates();
      });
    clock_thread_ = std::thread([this] {
      caf::detail::set_thread_name("caf.clock");
      system().thread_started();
      clock_.run_dispatch_loop();
      system().thread_terminates();
    });
    abstract_coordinator::start();
  }

  void stop() override {
    // As CAF's coordinator: the workers end first, then the (detached) utility actors.
    guards_.clear();
    for (auto& w : workers_)
      w->context->stop();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    stopped_ = true;  // from here on nothing runs: what is made ready is only released
    stop_actors();
    clock_.cancel_dispatch_loop();
    if (clock_thread_.joinable()) clock_thread_.join();
    // Drop the queues one by one (their jobs are cleaned up and released; a cleanup that makes
    // another job ready finds the scheduler stopped).
    for (auto& w : workers_)
      w->drop_queue();
  }

  void enqueue(caf::resumable* job) override {
    if (stopped_) {
      intrusive_ptr_release(job);  // the reference the enqueuer handed over
      return;
    }
    // Made ready on one of our threads: run it there, after the current handler.
    if (current_worker && &current_worker->owner() == this) {
      current_worker->schedule_local(job);
      return;
    }
    workers_[next_worker_++ % workers_.size()]->post(job);
  }

  caf::actor_clock& clock() noexcept override { return clock_; }

  size_t size() const override { return workers_.size(); }
  net::io_context& context(size_t index) override { return *workers_.at(index)->context; }
  size_t current_index() const override {
    if (current_worker && &current_worker->owner() == this) return current_worker->index();
    return workers_.size();
  }

 private:
  lean_clock clock_;
  std::vector<std::unique_ptr<io_worker>> workers_;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  std::thread clock_thread_;
  std::atomic<bool> stopped_{false};
};

}  // namespace

io_threads* io_threads_of(caf::actor_system& system) {
  return dynamic_cast<io_coordinator*>(&system.scheduler());
}

void use_io_scheduler(caf::actor_system_config& config) {
  config.module_factories.push_back([](caf::actor_system& system) -> caf::actor_system::module* {
    return new io_coordinator(system);
  });
}

}  // namespace inferstack::runtime
