//! Rego policy modules, evaluated in-process with the [`regorus`] interpreter (no `opa`
//! binary).
//!
//! A scan policy may carry Rego modules ([`RegoModule`]). They are compiled once into a
//! [`RegoProgram`] (parse, analysis and scheduling happen then) and evaluated against the
//! scan context JSON many times. The program reads two rules of one package: `deny` and
//! `warn`. Each may be a partial set rule (`deny contains msg if { ... }`, or the pre-1.0
//! `deny[msg] { ... }`) or an array; entries are strings or objects with a string `msg`
//! (conftest style). An undefined rule is an empty set; a package that declares neither
//! rule is refused at compile time ([`RegoError::NoRules`]). The outcome lists each rule's
//! messages sorted and deduplicated, so it is deterministic.
//!
//! Syntax: modules are parsed as Rego v1 (`if` / `contains` required, `import rego.v1`
//! accepted); a module that does not parse as v1, and uses neither `if`, `contains` nor
//! `rego.v1`, is retried as v0, so old conftest-style policies keep working. When both fail
//! the v1 error is reported.
//!
//! # Budgets ([`RegoLimits`]) and what they do not cover
//!
//! - Module count and size are checked before parsing; regorus' own length limits (lines,
//!   columns) apply too, and its parser bounds expression nesting depth. `[`/`{` nesting is
//!   capped (`max_bracket_depth`) because regorus' parser backtracks at each level and
//!   doubles its work per level. Compile time is not otherwise bounded: a module of many
//!   moderately nested expressions compiles slowly (milliseconds each).
//! - **Stack**: regorus recurses per rule dependency and function call, tens of KiB of stack
//!   per level in debug builds. Compilation and evaluation run on a scoped worker thread
//!   with a [`WORKER_STACK_BYTES`] stack, the number of rules and functions is capped
//!   (`max_rules`), and functions that may call themselves are refused at compile time
//!   (OPA does the same; regorus would recurse until the timer fires and then unwind in
//!   time quadratic in the depth). Rule recursion is detected by regorus, at evaluation.
//! - **Time**: regorus' cooperative execution timer
//!   ([`regorus::utils::limits::ExecutionTimerConfig`]) is armed for every evaluation; the
//!   interpreter checks it in its loops, rule and call evaluation, and fails with a
//!   [`regorus::LimitError::TimeLimitExceeded`], which becomes [`RegoError::Timeout`]. The
//!   evaluation then really stops (no thread is left burning CPU). `deny` and `warn` share
//!   one budget. A *single* builtin call is not interrupted, so a call whose own work is
//!   unbounded could overrun; the builtins where a tiny argument asks for unbounded work
//!   (`numbers.range`, `numbers.range_step`, `replace`) are replaced by capped versions
//!   (see below). Other builtins do work proportional to their arguments, which the timer
//!   bounds between calls.
//! - **Memory**: regorus' only memory limit (`allocator-memory-limits`) swaps the
//!   *process-wide* global allocator for its bundled mimalloc and limits the whole
//!   process' live heap, which does not fit a library that shares its process with feed
//!   stores and scans; it is not enabled. Instead `max_memory_bytes` caps what one builtin
//!   call may materialise: `numbers.range`/`numbers.range_step` refuse more than
//!   `max_memory_bytes / RANGE_ELEMENT_BYTES` elements and `replace` refuses a result
//!   longer than `max_memory_bytes` ([`RegoError::Memory`]). Growth across many calls is
//!   bounded by the timer only (roughly: what the machine can allocate within `timeout`).
//! - **Output**: at most `max_messages` messages per rule, each at most
//!   `max_message_bytes` long ([`RegoError::TooManyMessages`],
//!   [`RegoError::MessageTooLarge`]).
//!
//! regorus is a third-party interpreter; a panic inside it (none is known) ends the worker
//! thread only and is reported as [`RegoError::Internal`].
//!
//! Builtin errors follow OPA's default (not regorus'): a builtin given a wrong type, e.g.
//! `startswith(null, "x")` or `to_number("x")`, makes its expression undefined instead of
//! failing the evaluation, so conftest/OPA policies behave as they do there. Some analysis
//! errors (unsafe variables, unknown functions, rule recursion) are found only when the
//! rule is first evaluated ([`RegoError::Eval`], with the module name and line). regorus prints a few warnings to stderr itself
//! (e.g. "could not schedule all statements").

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{Engine, LimitError, PolicyLengthConfig, Value};
use serde::{Deserialize, Serialize};

/// One Rego module as written in a policy document (also embedded in the ScanPolicy CRD).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegoModule {
    /// Module name, unique within a policy; used in error messages (e.g. `kev.rego`).
    pub name: String,
    /// The Rego source text.
    pub source: String,
}

/// Budgets for compiling and evaluating Rego.
#[derive(Debug, Clone, Copy)]
pub struct RegoLimits {
    /// Most modules one program may have.
    pub max_modules: usize,
    /// Largest module source, in bytes.
    pub max_module_bytes: usize,
    /// Wall-clock budget of one evaluation (`deny` and `warn` together).
    pub timeout: Duration,
    /// Largest value one builtin call may materialise (see the module docs: not a heap limit).
    pub max_memory_bytes: u64,
    /// Most messages per rule (`deny`, `warn`).
    pub max_messages: usize,
    /// Longest message, in bytes.
    pub max_message_bytes: usize,
    /// Most rules and functions over all modules (bounds the interpreter's recursion depth).
    pub max_rules: usize,
    /// Deepest nesting of `[` and `{` in a module (regorus' parser is exponential in it).
    pub max_bracket_depth: usize,
}

impl Default for RegoLimits {
    fn default() -> Self {
        Self {
            max_modules: 16,
            max_module_bytes: 256 * 1024,
            timeout: Duration::from_millis(100),
            max_memory_bytes: 64 * 1024 * 1024,
            max_messages: 1000,
            max_message_bytes: 4 * 1024,
            max_rules: 1000,
            max_bracket_depth: 8,
        }
    }
}

/// Stack of the thread that compiles and evaluates: regorus' parser and interpreter recurse
/// once per nesting level, rule dependency and function call (tens of KiB per level in
/// debug builds), so they get a stack sized for `max_rules` levels rather than the caller's.
/// It is reserved address space; only the pages used are committed.
pub const WORKER_STACK_BYTES: usize = 256 * 1024 * 1024;

/// Estimated heap cost of one element of a `numbers.range` array (a `Value` plus its number),
/// used to turn `max_memory_bytes` into an element cap.
pub const RANGE_ELEMENT_BYTES: u64 = 64;

/// Messages from `deny` and `warn`, each sorted and deduplicated (deterministic).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RegoOutcome {
    /// Messages of the `deny` rule.
    pub deny: Vec<String>,
    /// Messages of the `warn` rule.
    pub warn: Vec<String>,
}

/// Why Rego modules could not be compiled or evaluated.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum RegoError {
    /// More modules than `max_modules`.
    #[error("{count} Rego modules, at most {limit} allowed")]
    TooManyModules {
        /// Modules given.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A module's source is larger than `max_module_bytes`.
    #[error("Rego module {module:?} is {bytes} bytes, at most {limit} allowed")]
    ModuleTooLarge {
        /// Module name.
        module: String,
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// A module name is empty or used twice.
    #[error("Rego module name {module:?} is empty or not unique")]
    BadModuleName {
        /// The offending name.
        module: String,
    },
    /// The modules have more rules and functions than `max_rules`.
    #[error("{count} Rego rules and functions, at most {limit} allowed")]
    TooManyRules {
        /// Rules and functions defined.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The package name to read is not a dotted path of identifiers.
    #[error("{package:?} is not a Rego package name (expected e.g. \"stella\" or \"org.scan\")")]
    BadPackage {
        /// The package name given.
        package: String,
    },
    /// A module does not parse or does not pass analysis.
    #[error("Rego module {module:?}: {message}")]
    Compile {
        /// Module name (empty when regorus did not say which module).
        module: String,
        /// regorus' message, with line and column.
        message: String,
    },
    /// The package declares neither `deny` nor `warn`.
    #[error("no module of package {package:?} defines a `deny` or `warn` rule")]
    NoRules {
        /// The package name.
        package: String,
    },
    /// Evaluation failed (e.g. a conflict between complete rule definitions).
    #[error("Rego evaluation failed: {message}")]
    Eval {
        /// regorus' message.
        message: String,
    },
    /// Evaluation ran past the time budget and was stopped.
    #[error("Rego evaluation stopped after the {limit_ms} ms time limit")]
    Timeout {
        /// The budget, in milliseconds.
        limit_ms: u64,
    },
    /// A builtin call asked for more than the memory budget.
    #[error("Rego evaluation stopped: {detail} (memory budget {limit} bytes)")]
    Memory {
        /// The budget, in bytes.
        limit: u64,
        /// What asked for too much.
        detail: String,
    },
    /// `deny` or `warn` is not a set/array of strings or of objects with a string `msg`.
    #[error("Rego rule {rule:?} has an unusable value: {message}")]
    BadOutput {
        /// `deny` or `warn`.
        rule: String,
        /// What is wrong.
        message: String,
    },
    /// A rule produced more than `max_messages` messages.
    #[error("Rego rule {rule:?} produced {count} messages, at most {limit} allowed")]
    TooManyMessages {
        /// `deny` or `warn`.
        rule: String,
        /// Messages produced.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A message is longer than `max_message_bytes`.
    #[error("Rego rule {rule:?} produced a message of {bytes} bytes, at most {limit} allowed")]
    MessageTooLarge {
        /// `deny` or `warn`.
        rule: String,
        /// Its length.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The interpreter panicked (a regorus bug, caught rather than unwinding into the scan).
    #[error("internal error in the Rego interpreter: {message}")]
    Internal {
        /// The panic message, if any.
        message: String,
    },
}

/// Compiled modules, ready to evaluate many inputs; cheap to clone and shareable (`Send + Sync`).
#[derive(Debug, Clone)]
pub struct RegoProgram {
    inner: Arc<Compiled>,
}

/// The prepared engine and what to read from it.
#[derive(Debug)]
struct Compiled {
    /// Parsed, analysed and prepared; cloned (reference-counted inside) per evaluation.
    engine: Engine,
    /// `data.<package>.deny`, when some module of the package declares it.
    deny: Option<String>,
    /// `data.<package>.warn`, likewise.
    warn: Option<String>,
    limits: RegoLimits,
}

/// Marks the error an overriding builtin returns when its result would exceed the memory
/// budget: regorus passes extension errors on as text only, so the marker is how
/// [`eval_error`] recognises them.
const BUDGET_MARKER: &str = "[stella: memory budget] ";

impl RegoProgram {
    /// Parses and prepares `modules`; `package` is the Rego package whose `deny` and `warn`
    /// are read, e.g. "stella" → `data.stella.deny` / `data.stella.warn`.
    pub fn compile(
        modules: &[RegoModule],
        package: &str,
        limits: RegoLimits,
    ) -> Result<Self, RegoError> {
        if modules.len() > limits.max_modules {
            return Err(RegoError::TooManyModules {
                count: modules.len(),
                limit: limits.max_modules,
            });
        }
        if !is_package_name(package) {
            return Err(RegoError::BadPackage {
                package: package.to_owned(),
            });
        }
        let mut names = BTreeSet::new();
        for module in modules {
            if module.name.trim().is_empty() || !names.insert(module.name.as_str()) {
                return Err(RegoError::BadModuleName {
                    module: module.name.clone(),
                });
            }
            if module.source.len() > limits.max_module_bytes {
                return Err(RegoError::ModuleTooLarge {
                    module: module.name.clone(),
                    bytes: module.source.len(),
                    limit: limits.max_module_bytes,
                });
            }
        }
        for module in modules {
            check_bracket_depth(module, limits.max_bracket_depth)?;
        }
        on_worker(|| compile_engine(modules, package, limits))?
    }

    /// Evaluates `deny` and `warn` against `input` (the scan context JSON).
    pub fn evaluate(&self, input: &serde_json::Value) -> Result<RegoOutcome, RegoError> {
        on_worker(|| self.evaluate_here(input))?
    }

    /// Evaluates on the current thread (see [`WORKER_STACK_BYTES`] for why not directly).
    fn evaluate_here(&self, input: &serde_json::Value) -> Result<RegoOutcome, RegoError> {
        let compiled = &*self.inner;
        let limits = compiled.limits;
        let mut engine = compiled.engine.clone();
        // Through JSON text: regorus then stores the input in its compact frozen form, which
        // it reads much faster than a converted `serde_json::Value`.
        let text = serde_json::to_string(input).map_err(|err| RegoError::Internal {
            message: format!("serialising the input: {err}"),
        })?;
        engine
            .set_input_json(&text)
            .map_err(|err| RegoError::Internal {
                message: format!("loading the input: {err:#}"),
            })?;
        let started = Instant::now();
        let deny = match &compiled.deny {
            Some(path) => read_rule(&mut engine, path, "deny", limits, limits.timeout)?,
            None => Vec::new(),
        };
        let warn = match &compiled.warn {
            // `deny` and `warn` share one budget: `warn` gets what `deny` left.
            Some(path) => {
                let left = limits.timeout.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return Err(timeout(limits));
                }
                read_rule(&mut engine, path, "warn", limits, left)?
            }
            None => Vec::new(),
        };
        Ok(RegoOutcome { deny, warn })
    }

    /// The limits this program was compiled with (and evaluates under).
    pub fn limits(&self) -> RegoLimits {
        self.inner.limits
    }
}

/// Builds and prepares the engine; runs under [`on_worker`].
fn compile_engine(
    modules: &[RegoModule],
    package: &str,
    limits: RegoLimits,
) -> Result<RegoProgram, RegoError> {
    let mut engine = Engine::new();
    // OPA semantics: builtin errors make the expression undefined (see the module docs).
    engine.set_strict_builtin_errors(false);
    if let Some(config) = length_config(limits) {
        engine.set_policy_length_config(config);
    }
    engine.set_execution_timer_config(timer_config(limits.timeout));
    install_capped_builtins(&mut engine, limits)?;

    let wanted = format!("data.{package}");
    let (mut has_deny, mut has_warn) = (false, false);
    for module in modules {
        let declared = add_module(&mut engine, module)?;
        if declared == wanted {
            has_deny |= declares(&engine, module, "deny")?;
            has_warn |= declares(&engine, module, "warn")?;
        }
    }
    check_rules(&mut engine, modules, limits)?;
    if !has_deny && !has_warn {
        return Err(RegoError::NoRules {
            package: package.to_owned(),
        });
    }
    // Evaluating a trivial query prepares the engine (analysis, scheduling, imports): the
    // errors it finds belong to compilation, and clones of a prepared engine stay prepared.
    engine
        .eval_bool_query("true".to_owned(), false)
        .map_err(|err| compile_error(modules, &err))?;
    Ok(RegoProgram {
        inner: Arc::new(Compiled {
            engine,
            deny: has_deny.then(|| format!("{wanted}.deny")),
            warn: has_warn.then(|| format!("{wanted}.warn")),
            limits,
        }),
    })
}

/// Adds one module, as Rego v1 first and v0 (pre-1.0 syntax) second; returns its package
/// (`data.x.y`).
fn add_module(engine: &mut Engine, module: &RegoModule) -> Result<String, RegoError> {
    engine.set_rego_v0(false);
    let v1 = engine.add_policy(module.name.clone(), module.source.clone());
    // Retry as v0 only for modules that look pre-1.0 (regorus' v0 parser prints warnings
    // to stderr when it meets the v1 keywords).
    let looks_v1 = module.source.contains("rego.v1")
        || module
            .source
            .split_whitespace()
            .any(|word| word == "if" || word == "contains");
    let added = match v1 {
        Ok(package) => Ok(package),
        Err(v1_err) if looks_v1 => Err(v1_err),
        Err(v1_err) => {
            engine.set_rego_v0(true);
            let v0 = engine.add_policy(module.name.clone(), module.source.clone());
            engine.set_rego_v0(false);
            v0.map_err(|_| v1_err)
        }
    };
    added.map_err(|err| RegoError::Compile {
        module: module.name.clone(),
        message: format!("{err:#}"),
    })
}

/// Whether `module` declares a rule named `rule` (or below it).
fn declares(engine: &Engine, module: &RegoModule, rule: &str) -> Result<bool, RegoError> {
    engine
        .has_declared_rule_rooted_at(&module.name, rule)
        .map_err(|err| RegoError::Compile {
            module: module.name.clone(),
            message: format!("{err:#}"),
        })
}

/// A preparation error, attributed to the module its message names.
fn compile_error(modules: &[RegoModule], err: &anyhow::Error) -> RegoError {
    let message = format!("{err:#}");
    let module = modules
        .iter()
        .find(|m| message.contains(&format!("{}:", m.name)))
        .map(|m| m.name.clone())
        .unwrap_or_default();
    RegoError::Compile { module, message }
}

/// Evaluates one rule and turns its value into sorted, deduplicated messages.
fn read_rule(
    engine: &mut Engine,
    path: &str,
    rule: &str,
    limits: RegoLimits,
    budget: Duration,
) -> Result<Vec<String>, RegoError> {
    engine.set_execution_timer_config(timer_config(budget));
    let value = engine
        .eval_rule(path.to_owned())
        .map_err(|err| eval_error(&err, limits))?;
    messages(&value, rule, limits)
}

/// Extracts the messages of a `deny`/`warn` value.
fn messages(value: &Value, rule: &str, limits: RegoLimits) -> Result<Vec<String>, RegoError> {
    let bad = |message: String| RegoError::BadOutput {
        rule: rule.to_owned(),
        message,
    };
    let entries: Vec<&Value> = match value {
        Value::Undefined => return Ok(Vec::new()),
        Value::Set(set) => set.iter().collect(),
        Value::Array(array) => array.iter().collect(),
        other => {
            return Err(bad(format!(
                "expected a set or an array, found {}",
                kind(other)
            )));
        }
    };
    if entries.len() > limits.max_messages {
        return Err(RegoError::TooManyMessages {
            rule: rule.to_owned(),
            count: entries.len(),
            limit: limits.max_messages,
        });
    }
    let mut out = BTreeSet::new();
    for entry in entries {
        let message = match entry {
            Value::String(text) => text.as_ref(),
            Value::Object(object) => match object.get(&Value::from("msg")) {
                Some(Value::String(text)) => text.as_ref(),
                Some(other) => {
                    return Err(bad(format!(
                        "an entry's `msg` is {}, not a string",
                        kind(other)
                    )));
                }
                None => return Err(bad("an object entry has no `msg`".to_owned())),
            },
            other => {
                return Err(bad(format!(
                    "entries must be strings or objects with a string `msg`, found {}",
                    kind(other)
                )));
            }
        };
        if message.len() > limits.max_message_bytes {
            return Err(RegoError::MessageTooLarge {
                rule: rule.to_owned(),
                bytes: message.len(),
                limit: limits.max_message_bytes,
            });
        }
        out.insert(message.to_owned());
    }
    Ok(out.into_iter().collect())
}

/// The Rego type name of a value, for error messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Set(_) => "a set",
        Value::Object(_) => "an object",
        Value::Undefined => "undefined",
    }
}

/// Maps an evaluation error, recognising regorus' limit errors and our builtin caps.
fn eval_error(err: &anyhow::Error, limits: RegoLimits) -> RegoError {
    for cause in err.chain() {
        if let Some(limit) = cause.downcast_ref::<LimitError>() {
            return match limit {
                LimitError::TimeLimitExceeded { .. } => timeout(limits),
                LimitError::MemoryLimitExceeded { .. }
                | LimitError::RegexSizeLimitExceeded { .. } => RegoError::Memory {
                    limit: limits.max_memory_bytes,
                    detail: limit.to_string(),
                },
            };
        }
    }
    let message = format!("{err:#}");
    // regorus passes errors raised inside function calls on as text only.
    if message.contains("execution exceeded time limit") {
        return timeout(limits);
    }
    if let Some((_, detail)) = message.split_once(BUDGET_MARKER) {
        return RegoError::Memory {
            limit: limits.max_memory_bytes,
            detail: detail.lines().next().unwrap_or_default().to_owned(),
        };
    }
    RegoError::Eval { message }
}

/// The timeout error for these limits.
fn timeout(limits: RegoLimits) -> RegoError {
    RegoError::Timeout {
        limit_ms: u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX),
    }
}

/// Timer armed for each evaluation; checked every few work units, since a clock read is
/// cheap next to the interpreter's per-unit work.
fn timer_config(limit: Duration) -> ExecutionTimerConfig {
    ExecutionTimerConfig {
        limit,
        check_interval: NonZeroU32::MIN.saturating_add(15),
    }
}

/// regorus' source length limits, with the file size taken from our module limit.
fn length_config(limits: RegoLimits) -> Option<PolicyLengthConfig> {
    let max_file_bytes = std::num::NonZeroUsize::new(limits.max_module_bytes)?;
    Some(PolicyLengthConfig {
        max_file_bytes,
        ..PolicyLengthConfig::default()
    })
}

/// Replaces the builtins where a small argument asks for unbounded work in one call (which
/// the cooperative timer cannot interrupt) by versions that refuse results larger than the
/// memory budget. regorus looks extensions up before its builtins.
fn install_capped_builtins(engine: &mut Engine, limits: RegoLimits) -> Result<(), RegoError> {
    let max_bytes = limits.max_memory_bytes;
    let max_elements = max_bytes / RANGE_ELEMENT_BYTES;
    let range = move |args: Vec<Value>| capped_range(&args, max_elements, false);
    let range_step = move |args: Vec<Value>| capped_range(&args, max_elements, true);
    let replace = move |args: Vec<Value>| capped_replace(&args, max_bytes);
    let installed = engine
        .add_extension("numbers.range".to_owned(), 2, Box::new(range))
        .and_then(|()| {
            engine.add_extension("numbers.range_step".to_owned(), 3, Box::new(range_step))
        })
        .and_then(|()| engine.add_extension("replace".to_owned(), 3, Box::new(replace)));
    installed.map_err(|err| RegoError::Internal {
        message: format!("installing capped builtins: {err:#}"),
    })
}

/// An integer argument, or `None` (→ undefined, as regorus' non-strict builtins do).
fn int_arg(args: &[Value], index: usize) -> Option<i64> {
    match args.get(index)? {
        Value::Number(n) if n.is_integer() => n.as_i64(),
        _ => None,
    }
}

/// `numbers.range(a, b)` / `numbers.range_step(a, b, step)` with an element cap.
fn capped_range(args: &[Value], max_elements: u64, stepped: bool) -> anyhow::Result<Value> {
    let (Some(from), Some(to)) = (int_arg(args, 0), int_arg(args, 1)) else {
        return Ok(Value::Undefined);
    };
    let step = if stepped {
        match int_arg(args, 2) {
            Some(step) if step > 0 => step.unsigned_abs(),
            Some(_) => anyhow::bail!("numbers.range_step: step must be a positive integer"),
            None => return Ok(Value::Undefined),
        }
    } else {
        1
    };
    let span = from.abs_diff(to);
    let count = span / step + 1;
    if count > max_elements {
        anyhow::bail!(
            "{BUDGET_MARKER}numbers.range of {count} elements exceeds the cap of {max_elements}"
        );
    }
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    let mut values = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    let mut current = from;
    for _ in 0..count {
        values.push(Value::from(current));
        current = if from <= to {
            current.saturating_add(step)
        } else {
            current.saturating_sub(step)
        };
    }
    Ok(Value::from(values))
}

/// `replace(s, old, new)` refusing a result longer than the memory budget.
fn capped_replace(args: &[Value], max_bytes: u64) -> anyhow::Result<Value> {
    let (Some(Value::String(s)), Some(Value::String(old)), Some(Value::String(new))) =
        (args.first(), args.get(1), args.get(2))
    else {
        return Ok(Value::Undefined);
    };
    let occurrences = if old.is_empty() {
        s.chars().count() as u64 + 1
    } else {
        s.matches(old.as_ref()).count() as u64
    };
    let longest = (s.len() as u64).saturating_add(occurrences.saturating_mul(new.len() as u64));
    if longest > max_bytes {
        anyhow::bail!("{BUDGET_MARKER}replace would build a string of up to {longest} bytes");
    }
    Ok(Value::from(s.replace(old.as_ref(), new.as_ref())))
}

/// Whether `package` is a dotted path of Rego identifiers.
fn is_package_name(package: &str) -> bool {
    !package.is_empty()
        && package.split('.').all(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// Runs a call into regorus on a scoped thread with a [`WORKER_STACK_BYTES`] stack; a panic
/// inside regorus becomes [`RegoError::Internal`] instead of unwinding into the scan.
fn on_worker<T: Send>(call: impl FnOnce() -> T + Send) -> Result<T, RegoError> {
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("rego".to_owned())
            .stack_size(WORKER_STACK_BYTES)
            .spawn_scoped(scope, call)
            .map_err(|err| RegoError::Internal {
                message: format!("cannot start the Rego worker thread: {err}"),
            })?;
        worker.join().map_err(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            RegoError::Internal { message }
        })
    })
}

/// Refuses `[`/`{` nesting deeper than `max` (outside strings and comments): regorus'
/// parser tries comprehension before literal at each level and backtracks, which costs
/// about twice as much per level (16 levels: seconds).
fn check_bracket_depth(module: &RegoModule, max: usize) -> Result<(), RegoError> {
    let (mut depth, mut line) = (0usize, 1usize);
    let mut chars = module.source.chars();
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            // A comment runs to the end of the line.
            '#' if chars.by_ref().any(|c| c == '\n') => line += 1,
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' | '\n' => {
                            line += usize::from(c == '\n');
                            break;
                        }
                        _ => {}
                    }
                }
            }
            '`' => {
                for c in chars.by_ref() {
                    match c {
                        '`' => break,
                        '\n' => line += 1,
                        _ => {}
                    }
                }
            }
            '[' | '{' => {
                depth += 1;
                if depth > max {
                    return Err(RegoError::Compile {
                        module: module.name.clone(),
                        message: format!(
                            "line {line}: brackets nested more than {max} deep (`[`/`{{` levels)"
                        ),
                    });
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Counts rules and functions against `max_rules` and refuses functions that may call
/// themselves: OPA rejects recursion at compile time, regorus does not, and a recursive
/// function recurses until the timer fires and then unwinds in time quadratic in its depth.
fn check_rules(
    engine: &mut Engine,
    modules: &[RegoModule],
    limits: RegoLimits,
) -> Result<(), RegoError> {
    use regorus::unstable::{Rule, RuleHead};
    // (function name, module name, text after the name: arguments, value and bodies)
    let mut functions: Vec<(String, String, String)> = Vec::new();
    let mut count = 0usize;
    for (parsed, module) in engine.get_modules().iter().zip(modules) {
        count += parsed.policy.len();
        for rule in &parsed.policy {
            let (refr, is_function) = match rule.as_ref() {
                Rule::Spec {
                    head: RuleHead::Func { refr, .. },
                    ..
                } => (refr, true),
                Rule::Default { refr, args, .. } => (refr, !args.is_empty()),
                Rule::Spec { .. } => continue,
            };
            if !is_function {
                continue;
            }
            let name = refr.span().text();
            let name = name.rsplit('.').next().unwrap_or(name).to_owned();
            let rest = usize::try_from(refr.span().end)
                .ok()
                .zip(usize::try_from(rule.span().end).ok())
                .and_then(|(from, to)| module.source.get(from..to))
                .unwrap_or_default()
                .to_owned();
            functions.push((name, module.name.clone(), rest));
        }
    }
    if count > limits.max_rules {
        return Err(RegoError::TooManyRules {
            count,
            limit: limits.max_rules,
        });
    }
    // Call graph over function names (textual: `g(` in f's definition), then a cycle search.
    let names: BTreeSet<&str> = functions.iter().map(|(name, ..)| name.as_str()).collect();
    let mut calls: std::collections::BTreeMap<&str, BTreeSet<&str>> = Default::default();
    for (name, _, rest) in &functions {
        let callees = calls.entry(name.as_str()).or_default();
        for &callee in &names {
            if calls_function(rest, callee) {
                callees.insert(callee);
            }
        }
    }
    for (name, module, _) in &functions {
        if reaches(&calls, name, name) {
            return Err(RegoError::Compile {
                module: module.clone(),
                message: format!(
                    "function `{name}` may call itself (directly or through other functions); \
                     recursion is not allowed in Rego"
                ),
            });
        }
    }
    Ok(())
}

/// Whether `text` contains a call of `name` (`name(` not preceded by an identifier char).
fn calls_function(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(at, _)| {
        let before = text.get(..at).and_then(|head| head.chars().next_back());
        let after = text
            .get(at + name.len()..)
            .is_some_and(|tail| tail.trim_start().starts_with('('));
        after && !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// Whether `to` is reachable from `from` in at least one call.
fn reaches(calls: &std::collections::BTreeMap<&str, BTreeSet<&str>>, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<&str> = calls.get(from).into_iter().flatten().copied().collect();
    while let Some(next) = stack.pop() {
        if next == to {
            return true;
        }
        if seen.insert(next) {
            stack.extend(calls.get(next).into_iter().flatten().copied());
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn module(name: &str, source: &str) -> RegoModule {
        RegoModule {
            name: name.to_owned(),
            source: source.to_owned(),
        }
    }

    /// Default limits but a generous clock: these tests check results, not speed, and
    /// a debug build on a loaded machine can exceed the 100 ms budget (the timeout
    /// itself is tested with explicit limits).
    fn compile(source: &str) -> Result<RegoProgram, RegoError> {
        let limits = RegoLimits {
            timeout: Duration::from_secs(30),
            ..RegoLimits::default()
        };
        RegoProgram::compile(&[module("test.rego", source)], "stella", limits)
    }

    fn eval(source: &str, input: serde_json::Value) -> Result<RegoOutcome, RegoError> {
        compile(source)?.evaluate(&input)
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn program_is_send_sync_and_clone() {
        fn assert_shareable<T: Send + Sync + Clone + 'static>() {}
        assert_shareable::<RegoProgram>();
    }

    #[test]
    fn v1_partial_sets_sorted_and_deduplicated() {
        let source = r#"package stella
import rego.v1
deny contains sprintf("%s is %s", [f.id, f.severity]) if {
    some f in input.findings
    f.severity == "critical"
}
warn contains "zz last" if true
warn contains "aa first" if true
warn contains "aa first" if count(input.findings) > 0
"#;
        let input = json!({"findings": [
            {"id": "CVE-2", "severity": "critical"},
            {"id": "CVE-1", "severity": "critical"},
            {"id": "CVE-3", "severity": "low"},
            {"id": "CVE-1", "severity": "critical"}
        ]});
        let outcome = eval(source, input.clone()).unwrap();
        assert_eq!(
            outcome.deny,
            strings(&["CVE-1 is critical", "CVE-2 is critical"])
        );
        assert_eq!(outcome.warn, strings(&["aa first", "zz last"]));
        // Determinism: the same program and input give the same outcome, also from clones.
        let program = compile(source).unwrap();
        let shared = program.clone();
        for _ in 0..5 {
            assert_eq!(shared.evaluate(&input).unwrap(), outcome);
        }
    }

    #[test]
    fn v0_syntax_is_accepted() {
        let source = r#"package stella
deny[msg] {
    input.image.digest == null
    msg := "image has no digest"
}
"#;
        let outcome = eval(source, json!({"image": {"digest": null}})).unwrap();
        assert_eq!(outcome.deny, strings(&["image has no digest"]));
        assert!(outcome.warn.is_empty());
        let outcome = eval(source, json!({"image": {"digest": "sha256:00"}})).unwrap();
        assert!(outcome.deny.is_empty());
    }

    #[test]
    fn conftest_objects_and_arrays() {
        let source = r#"package stella
deny contains {"msg": "object form", "details": {"x": 1}} if true
warn := ["b", "a", "b"]
"#;
        let outcome = eval(source, json!({})).unwrap();
        assert_eq!(outcome.deny, strings(&["object form"]));
        assert_eq!(outcome.warn, strings(&["a", "b"]));
    }

    #[test]
    fn reads_namespace_labels() {
        let source = r#"package stella
deny contains msg if {
    input.namespace.labels.env == "prod"
    msg := sprintf("prod namespace %s", [input.namespace.name])
}
"#;
        let prod = json!({"namespace": {"name": "shop", "labels": {"env": "prod"}}});
        assert_eq!(
            eval(source, prod).unwrap().deny,
            strings(&["prod namespace shop"])
        );
        let dev = json!({"namespace": {"name": "shop", "labels": {"env": "dev"}}});
        assert!(eval(source, dev).unwrap().deny.is_empty());
        let none = json!({"namespace": null});
        assert!(eval(source, none).unwrap().deny.is_empty());
    }

    #[test]
    fn compile_error_names_module_and_line() {
        let good = module("good.rego", "package stella\ndeny contains \"x\" if true\n");
        let bad = module(
            "bad.rego",
            "package stella\n\nwarn contains x if {\n  x := \n}\n",
        );
        let err = RegoProgram::compile(&[good, bad], "stella", RegoLimits::default()).unwrap_err();
        let RegoError::Compile { module, message } = &err else {
            panic!("expected Compile, got {err:?}");
        };
        assert_eq!(module, "bad.rego");
        assert!(
            message.contains("bad.rego:5") || message.contains("bad.rego:4"),
            "{message}"
        );
    }

    #[test]
    fn unsafe_variable_is_reported_at_evaluation_with_its_line() {
        // regorus analyses rule bodies lazily: an unbound variable is found when the rule
        // is first evaluated, not when the module is prepared.
        let program = compile("package stella\ndeny contains x if { x > 1 }\n").unwrap();
        let err = program.evaluate(&json!({})).unwrap_err();
        let RegoError::Eval { message } = &err else {
            panic!("expected Eval, got {err:?}");
        };
        assert!(
            message.contains("test.rego:2:") && message.contains("unsafe"),
            "{message}"
        );
    }

    #[test]
    fn no_rules_in_package() {
        let err = compile("package stella\nallow if true\n").unwrap_err();
        assert_eq!(
            err,
            RegoError::NoRules {
                package: "stella".to_owned()
            }
        );
        // Rules of another package do not count.
        let other = "package other\ndeny contains \"x\" if true\n";
        assert!(matches!(
            compile(other).unwrap_err(),
            RegoError::NoRules { .. }
        ));
        let err = RegoProgram::compile(&[], "stella", RegoLimits::default()).unwrap_err();
        assert!(matches!(err, RegoError::NoRules { .. }));
    }

    #[test]
    fn only_deny_or_only_warn_is_fine() {
        let outcome = eval("package stella\nwarn contains \"w\" if true\n", json!({})).unwrap();
        assert_eq!(
            outcome,
            RegoOutcome {
                deny: vec![],
                warn: strings(&["w"])
            }
        );
        let outcome = eval("package stella\ndeny contains \"d\" if false\n", json!({})).unwrap();
        assert_eq!(outcome, RegoOutcome::default());
    }

    #[test]
    fn nested_package_and_bad_package_names() {
        let modules = [module(
            "m",
            "package org.scan\ndeny contains \"d\" if true\n",
        )];
        let program = RegoProgram::compile(&modules, "org.scan", RegoLimits::default()).unwrap();
        assert_eq!(program.evaluate(&json!({})).unwrap().deny, strings(&["d"]));
        for package in ["", "a..b", "1x", "a b", "data.x[\"y\"]"] {
            let err = RegoProgram::compile(&modules, package, RegoLimits::default()).unwrap_err();
            assert!(
                matches!(err, RegoError::BadPackage { .. }),
                "{package}: {err:?}"
            );
        }
    }

    #[test]
    fn bad_output_shapes() {
        for (source, needle) in [
            ("deny := true", "a boolean"),
            ("deny := \"text\"", "a string"),
            ("deny contains 3 if true", "a number"),
            ("deny contains {\"message\": \"x\"} if true", "no `msg`"),
            ("deny contains {\"msg\": 1} if true", "not a string"),
        ] {
            let err = eval(&format!("package stella\n{source}\n"), json!({})).unwrap_err();
            let RegoError::BadOutput { rule, message } = &err else {
                panic!("{source}: expected BadOutput, got {err:?}");
            };
            assert_eq!(rule, "deny");
            assert!(message.contains(needle), "{source}: {message}");
        }
    }

    #[test]
    fn message_limits() {
        let limits = RegoLimits {
            max_messages: 3,
            max_message_bytes: 10,
            ..RegoLimits::default()
        };
        let source = "package stella\nwarn contains sprintf(\"m%d\", [i]) if some i in numbers.range(1, input.n)\n";
        let program = RegoProgram::compile(&[module("m", source)], "stella", limits).unwrap();
        assert_eq!(program.evaluate(&json!({"n": 3})).unwrap().warn.len(), 3);
        let err = program.evaluate(&json!({"n": 4})).unwrap_err();
        assert_eq!(
            err,
            RegoError::TooManyMessages {
                rule: "warn".to_owned(),
                count: 4,
                limit: 3
            }
        );
        let long = "package stella\ndeny contains \"0123456789A\" if true\n";
        let program = RegoProgram::compile(&[module("m", long)], "stella", limits).unwrap();
        let err = program.evaluate(&json!({})).unwrap_err();
        assert_eq!(
            err,
            RegoError::MessageTooLarge {
                rule: "deny".to_owned(),
                bytes: 11,
                limit: 10
            }
        );
    }

    #[test]
    fn module_limits() {
        let limits = RegoLimits {
            max_modules: 1,
            max_module_bytes: 40,
            ..RegoLimits::default()
        };
        let small = module("a", "package stella\nwarn := []\n");
        let err =
            RegoProgram::compile(&[small.clone(), module("b", "package x")], "stella", limits)
                .unwrap_err();
        assert_eq!(err, RegoError::TooManyModules { count: 2, limit: 1 });
        let big = module(
            "big",
            &format!("package stella\n# {}\nwarn := []\n", "x".repeat(40)),
        );
        let err = RegoProgram::compile(&[big], "stella", limits).unwrap_err();
        assert!(matches!(err, RegoError::ModuleTooLarge { ref module, .. } if module == "big"));
        let err = RegoProgram::compile(&[small.clone(), small], "stella", RegoLimits::default())
            .unwrap_err();
        assert!(matches!(err, RegoError::BadModuleName { .. }));
    }

    #[test]
    fn eval_error_from_conflicting_complete_rules() {
        let source = "package stella\nwarn := [\"a\"] if input.a\nwarn := [\"b\"] if input.b\n";
        let program = compile(source).unwrap();
        assert_eq!(
            program.evaluate(&json!({"a": true})).unwrap().warn,
            strings(&["a"])
        );
        let err = program
            .evaluate(&json!({"a": true, "b": true}))
            .unwrap_err();
        assert!(matches!(err, RegoError::Eval { .. }), "{err:?}");
    }

    /// A module whose evaluation would take minutes: nested iteration over the findings.
    const RUNAWAY: &str = r#"package stella
deny contains "never" if {
    some a in numbers.range(1, 100000)
    some b in numbers.range(1, 100000)
    a + b < 0
}
"#;

    #[test]
    fn runaway_loop_times_out() {
        let limits = RegoLimits {
            timeout: Duration::from_millis(50),
            ..RegoLimits::default()
        };
        let program = RegoProgram::compile(&[module("loop", RUNAWAY)], "stella", limits).unwrap();
        let started = Instant::now();
        let err = program.evaluate(&json!({})).unwrap_err();
        assert_eq!(err, RegoError::Timeout { limit_ms: 50 });
        // Generous: the point is that it stops at all (the full loop is 10^10 steps).
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn huge_range_hits_the_memory_budget() {
        for call in ["numbers.range(1, 1e12)", "numbers.range_step(1e12, 0, 2)"] {
            let source = format!("package stella\nwarn contains \"big\" if count({call}) > 0\n");
            let err = eval(&source, json!({})).unwrap_err();
            assert!(
                matches!(err, RegoError::Memory { limit, .. } if limit == 64 << 20),
                "{call}: {err:?}"
            );
        }
        // Within the cap the capped builtins behave like OPA's.
        let source = "package stella\nwarn := [sprintf(\"%v\", [numbers.range(3, 1)]), sprintf(\"%v\", [numbers.range_step(0, 7, 3)])]\n";
        assert_eq!(
            eval(source, json!({})).unwrap().warn,
            strings(&["[0, 3, 6]", "[3, 2, 1]"])
        );
    }

    #[test]
    fn string_blowup_hits_the_memory_budget() {
        // 32 KiB, then ~1 GiB in a single `replace` call: refused before it is built.
        let source = r#"package stella
a := concat("", ["aaaaaaaa" | some _ in numbers.range(1, 4096)])
warn contains "big" if count(replace(a, "", a)) > 0
"#;
        let err = eval(source, json!({})).unwrap_err();
        assert!(matches!(err, RegoError::Memory { .. }), "{err:?}");
        let ok = "package stella\nwarn := [replace(\"a-b-c\", \"-\", \"+\"), replace(\"ab\", \"\", \".\")]\n";
        assert_eq!(
            eval(ok, json!({})).unwrap().warn,
            strings(&[".a.b.", "a+b+c"])
        );
    }

    #[test]
    fn deep_bracket_nesting_is_refused_before_parsing() {
        let deep = format!(
            "package stella\n# [[[[ in a comment\nwarn := {}1{}\n",
            "[".repeat(40),
            "]".repeat(40)
        );
        let err = compile(&deep).unwrap_err();
        let RegoError::Compile { module, message } = &err else {
            panic!("expected Compile, got {err:?}");
        };
        assert_eq!(module, "test.rego");
        assert!(message.contains("line 3"), "{message}");
        // Brackets in strings and comments do not count; 8 levels are fine.
        let ok = format!(
            "package stella\n# {{{{{{{{{{{{\nwarn := [\"[[[[[[[[[[\", `{{{{{{{{{{`, sprintf(\"%v\", [{}1{}])]\n",
            "[".repeat(6),
            "]".repeat(6)
        );
        assert_eq!(eval(&ok, json!({})).unwrap().warn.len(), 3, "{ok}");
    }

    #[test]
    fn recursive_functions_are_refused() {
        for source in [
            "f(x) := y if { y := f(x) }\nwarn contains \"w\" if f(1)",
            "f(x) := g(x)\ng(x) := y if { y := f (x) }\nwarn contains \"w\" if f(1)",
        ] {
            let err = compile(&format!("package stella\n{source}\n")).unwrap_err();
            assert!(
                matches!(&err, RegoError::Compile { message, .. } if message.contains("may call itself")),
                "{source}: {err:?}"
            );
        }
        // A function calling another one (or a builtin of a similar name) is fine.
        let ok = "package stella\nf(x) := g(x)\ng(x) := sprintf(\"g%v\", [x])\nfx(x) := f(x)\nwarn contains fx(1) if true\n";
        assert_eq!(eval(ok, json!({})).unwrap().warn, strings(&["g1"]));
    }

    #[test]
    fn rule_count_limit_and_deep_rule_chains() {
        let chain = |n: usize| {
            let mut source = String::from("package stella\na0 := 1\n");
            for i in 0..n {
                source.push_str(&format!("a{} := [a{i}]\n", i + 1));
            }
            source.push_str(&format!("warn contains \"deep\" if a{n}\n"));
            source
        };
        // 600 levels of rule dependencies overflow a default 2 MiB stack in debug builds;
        // the worker thread's stack holds them.
        assert_eq!(
            eval(&chain(600), json!({})).unwrap().warn,
            strings(&["deep"])
        );
        let err = compile(&chain(1000)).unwrap_err();
        assert_eq!(
            err,
            RegoError::TooManyRules {
                count: 1002,
                limit: 1000
            }
        );
    }

    #[test]
    fn function_recursion_through_a_rule_is_stopped() {
        // regorus reports rule recursion itself; this must not recurse without bound.
        let source =
            "package stella\nr := f(1)\nf(x) := y if { y := r }\nwarn contains \"w\" if r\n";
        let err = eval(source, json!({})).unwrap_err();
        assert!(
            matches!(err, RegoError::Eval { .. } | RegoError::Timeout { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn builtin_type_errors_are_undefined_as_in_opa() {
        let source = r#"package stella
deny contains "bad number" if to_number(input.n) > 1
deny contains "digest" if startswith(input.image.digest, "sha256:")
warn contains "evaluated" if true
"#;
        let outcome = eval(source, json!({"n": "abc", "image": {"digest": null}})).unwrap();
        assert_eq!(
            outcome,
            RegoOutcome {
                deny: vec![],
                warn: strings(&["evaluated"])
            }
        );
        let outcome = eval(source, json!({"n": "5", "image": {"digest": "sha256:1"}})).unwrap();
        assert_eq!(outcome.deny, strings(&["bad number", "digest"]));
    }
}
