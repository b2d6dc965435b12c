//! NDR / PDR search (RFC 2544 §26.1 throughput, CSIT's NDR and PDR): the
//! highest offered rate at which the device loses nothing (NDR), or less
//! than a ratio such as 0.5 % (PDR), by binary search over trials of fixed
//! duration. Generic over the trial, so that it is tested against a model
//! device; `perf/trex/ndr.py` runs the same algorithm against TRex.
//!
//! Bounds are the rates actually *offered* by a trial (what the generator
//! managed to send per second), not the rates asked for: on a shared
//! machine the generator may fall short, and a pass at a rate that was not
//! offered proves nothing. When the generator cannot offer more than the
//! device passes, the result says `generator_limited`.

/// What a trial must report to the search.
pub trait Outcome {
    /// Offered packets per second per direction (sent or refused by the
    /// port, over the trial duration).
    fn offered_pps(&self) -> f64;
    /// Loss ratio 0..=1 (the worst direction).
    fn loss(&self) -> f64;
}

/// Search parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchConfig {
    /// Lowest rate worth trying (pps per direction); below it the search
    /// gives up.
    pub min_pps: f64,
    /// Highest rate tried (pps per direction).
    pub max_pps: f64,
    /// Stop when the interval is narrower than this fraction of its top.
    pub precision: f64,
    /// Seconds per search trial.
    pub trial_s: f64,
    /// Seconds of the confirmation trial at the result (0: none).
    pub final_s: f64,
    /// Loss ratio allowed: 0 for NDR, 0.005 for PDR.
    pub max_loss: f64,
}

/// A passing trial offering less than this share of its target is
/// generator-limited. Not tighter: on a shared machine the generator loses
/// a few per cent of its schedule to stalls even at low rates, and the
/// bounds use the offered rate anyway.
pub const GENERATOR_SHORTFALL: f64 = 0.9;

/// Bisection trials at most (beyond the top and the halvings): noise that
/// keeps moving the bounds cannot make the search run forever.
pub const MAX_BISECTIONS: usize = 24;

/// The outcome of one search.
#[derive(Clone, Debug)]
pub struct SearchResult<T> {
    /// The rate found (pps per direction, offered), `None` if even
    /// `min_pps` lost too much.
    pub rate_pps: Option<f64>,
    /// Index in `trials` of the trial that proved `rate_pps`.
    pub best: Option<usize>,
    /// Every trial run, in order.
    pub trials: Vec<Trial<T>>,
    /// The generator could not offer the rates the device would pass.
    pub generator_limited: bool,
}

/// A trial and the rate asked for.
#[derive(Clone, Debug)]
pub struct Trial<T> {
    /// Rate asked for (pps per direction).
    pub target_pps: f64,
    /// Duration asked for.
    pub duration_s: f64,
    /// Passed the loss criterion.
    pub pass: bool,
    /// What the trial measured.
    pub outcome: T,
    /// Taken from the `known` trials of an earlier search, not run again.
    pub reused: bool,
}

/// Does `loss` meet `max_loss` (exactly zero for NDR)?
#[must_use]
pub fn passes(loss: f64, max_loss: f64) -> bool {
    if max_loss == 0.0 {
        loss == 0.0
    } else {
        loss < max_loss
    }
}

/// Runs the search. `run(target_pps, duration_s)` performs one trial.
/// `known` holds trials of an earlier search on the same traffic (the NDR
/// search's, for PDR): they narrow the bounds first, as MLRsearch does.
///
/// # Errors
/// The first error a trial returns.
pub fn search<T: Outcome + Clone, E>(
    cfg: &SearchConfig,
    known: &[Trial<T>],
    mut run: impl FnMut(f64, f64) -> Result<T, E>,
) -> Result<SearchResult<T>, E> {
    let mut res = SearchResult {
        rate_pps: None,
        best: None,
        trials: Vec::new(),
        generator_limited: false,
    };
    let mut trial = |res: &mut SearchResult<T>, target: f64, dur: f64| -> Result<usize, E> {
        let outcome = run(target, dur)?;
        let pass = passes(outcome.loss(), cfg.max_loss);
        res.trials.push(Trial {
            target_pps: target,
            duration_s: dur,
            pass,
            outcome,
            reused: false,
        });
        Ok(res.trials.len() - 1)
    };
    let rate = |t: &Trial<T>| t.outcome.offered_pps();
    let short = |t: &Trial<T>| t.outcome.offered_pps() < GENERATOR_SHORTFALL * t.target_pps;

    // Bounds from known trials (same duration or longer), judged by our
    // criterion. The best pass first; then the lowest failure above it. A
    // failure below a pass is noise (on a shared machine, a trial whose
    // generator or device was descheduled): a rate that passed once is not
    // capped by it, so the PDR never ends below the NDR it reuses.
    let known: Vec<&Trial<T>> = known
        .iter()
        .filter(|t| t.duration_s >= cfg.trial_s)
        .collect();
    // The best known pass becomes this search's first trial (marked
    // reused), so that a result proved by it points at a trial.
    let best_known = known
        .iter()
        .filter(|t| passes(t.outcome.loss(), cfg.max_loss))
        .max_by(|a, b| rate(a).total_cmp(&rate(b)));
    let mut hi: Option<f64> = known
        .iter()
        .filter(|t| !passes(t.outcome.loss(), cfg.max_loss))
        .map(|t| rate(t))
        .filter(|&r| best_known.is_none_or(|b| r > rate(b)))
        .fold(None, |m, r| Some(m.map_or(r, |m: f64| m.min(r))));
    let mut lo: Option<(f64, Option<usize>)> = best_known.map(|t| {
        res.trials.push(Trial {
            pass: true,
            reused: true,
            ..(*t).clone()
        });
        (rate(t), Some(res.trials.len() - 1))
    });

    if hi.is_none() {
        let i = trial(&mut res, cfg.max_pps, cfg.trial_s)?;
        let t = &res.trials[i];
        if t.pass {
            res.generator_limited = short(t);
            lo = Some((rate(t), Some(i)));
            hi = Some(rate(t));
        } else {
            hi = Some(rate(t).min(cfg.max_pps));
        }
    }
    let mut hi = hi.unwrap_or(cfg.max_pps);
    if lo.is_none() {
        let mut probe = hi / 2.0;
        loop {
            if probe < cfg.min_pps {
                return Ok(res);
            }
            let i = trial(&mut res, probe, cfg.trial_s)?;
            let t = &res.trials[i];
            if t.pass {
                res.generator_limited = short(t);
                lo = Some((rate(t), Some(i)));
                break;
            }
            hi = rate(t).min(probe);
            probe /= 2.0;
        }
    }
    let Some((mut lo_rate, mut lo_idx)) = lo else {
        return Ok(res);
    };
    // Nothing above what the generator offered can be tested.
    let mut bisections = 0;
    while !res.generator_limited && hi - lo_rate > cfg.precision * hi && bisections < MAX_BISECTIONS
    {
        bisections += 1;
        let mid = f64::midpoint(lo_rate, hi);
        let i = trial(&mut res, mid, cfg.trial_s)?;
        let t = &res.trials[i];
        if t.pass {
            if rate(t) > lo_rate {
                lo_rate = rate(t);
                lo_idx = Some(i);
            }
            res.generator_limited = short(t);
        } else {
            hi = rate(t).min(mid).max(lo_rate);
        }
    }
    // Confirm with a longer trial; noise may fail it: step down a few times.
    if cfg.final_s > 0.0 {
        let mut target = lo_rate;
        for _ in 0..4 {
            let i = trial(&mut res, target, cfg.final_s)?;
            if res.trials[i].pass {
                res.rate_pps = Some(rate(&res.trials[i]));
                res.best = Some(i);
                return Ok(res);
            }
            target *= 1.0 - cfg.precision;
            if target < cfg.min_pps {
                break;
            }
        }
        return Ok(res);
    }
    res.rate_pps = Some(lo_rate);
    res.best = lo_idx;
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::SplitMix64;

    /// A model device: forwards up to `capacity` pps per direction, loses
    /// the excess; a generator that cannot offer more than `gen_max`; an
    /// optional noise source that makes trials lose a little at random.
    struct SimDut {
        capacity: f64,
        gen_max: f64,
        noise: Option<(SplitMix64, f64)>,
        trials: usize,
    }

    #[derive(Clone, Debug)]
    struct Sim {
        offered: f64,
        loss: f64,
    }

    impl Outcome for Sim {
        fn offered_pps(&self) -> f64 {
            self.offered
        }
        fn loss(&self) -> f64 {
            self.loss
        }
    }

    impl SimDut {
        fn new(capacity: f64, gen_max: f64) -> Self {
            SimDut {
                capacity,
                gen_max,
                noise: None,
                trials: 0,
            }
        }

        fn run(&mut self, target: f64, _dur: f64) -> Result<Sim, ()> {
            self.trials += 1;
            let offered = target.min(self.gen_max);
            let mut loss = if offered > self.capacity {
                1.0 - self.capacity / offered
            } else {
                0.0
            };
            if let Some((rng, p)) = &mut self.noise {
                #[allow(clippy::cast_precision_loss)]
                if (rng.next_u64() % 1_000_000) as f64 / 1e6 < *p {
                    loss += 1e-6;
                }
            }
            Ok(Sim { offered, loss })
        }
    }

    fn cfg(max_loss: f64) -> SearchConfig {
        SearchConfig {
            min_pps: 10_000.0,
            max_pps: 10e6,
            precision: 0.01,
            trial_s: 1.0,
            final_s: 0.0,
            max_loss,
        }
    }

    #[test]
    fn ndr_lands_within_precision_below_capacity() {
        for capacity in [3.3e6, 123_456.0, 9.9e6, 0.7e6] {
            let mut dut = SimDut::new(capacity, 100e6);
            let r = search(&cfg(0.0), &[], |p, d| dut.run(p, d)).unwrap();
            let ndr = r.rate_pps.unwrap();
            assert!(ndr <= capacity, "{ndr} > {capacity}");
            assert!(ndr >= capacity * 0.99, "{ndr} too far below {capacity}");
            assert!(!r.generator_limited);
            let best = &r.trials[r.best.unwrap()];
            assert!(best.pass && best.outcome.loss == 0.0);
            // Binary search, not a sweep: the top, the halvings down to the
            // capacity, then log2(1 / precision) bisections.
            let bound = 2.0 + (10e6 / capacity).log2().ceil() + (1.0f64 / 0.01).log2().ceil();
            assert!(
                r.trials.len() as f64 <= bound,
                "{} trials > {bound}",
                r.trials.len()
            );
        }
    }

    #[test]
    fn a_pdr_proved_by_an_ndr_trial_points_at_it() {
        // Known: a fail at 1.01 M with 1 % loss, a pass at 1.0 M with 0.1 %
        // loss: the PDR interval is already narrower than the precision.
        let known = vec![
            Trial {
                target_pps: 1.01e6,
                duration_s: 1.0,
                pass: false,
                outcome: Sim {
                    offered: 1.01e6,
                    loss: 0.01,
                },
                reused: false,
            },
            Trial {
                target_pps: 1.0e6,
                duration_s: 1.0,
                pass: false,
                outcome: Sim {
                    offered: 1.0e6,
                    loss: 0.001,
                },
                reused: false,
            },
        ];
        let mut runs = 0;
        let r = search(&cfg(0.005), &known, |_p, _d| -> Result<Sim, ()> {
            runs += 1;
            Ok(Sim {
                offered: 0.0,
                loss: 1.0,
            })
        })
        .unwrap();
        assert_eq!(runs, 0);
        assert_eq!(r.rate_pps, Some(1.0e6));
        let best = &r.trials[r.best.unwrap()];
        assert!(best.reused && best.pass);
        assert!((best.outcome.loss - 0.001).abs() < 1e-12);
    }

    #[test]
    fn a_failure_below_a_pass_does_not_push_the_pdr_under_the_ndr() {
        let t = |offered: f64, loss: f64| Trial {
            target_pps: offered,
            duration_s: 1.0,
            pass: false,
            outcome: Sim { offered, loss },
            reused: false,
        };
        // NDR trials: a noisy 2 % failure at 0.7 M, a clean pass at 0.85 M,
        // a 0.3 % failure at 0.9 M and a 10 % one at 1.0 M.
        let known = vec![
            t(1.0e6, 0.1),
            t(0.7e6, 0.02),
            t(0.85e6, 0.0),
            t(0.9e6, 0.003),
        ];
        let mut dut = SimDut::new(0.95e6, 100e6);
        let r = search(&cfg(0.005), &known, |p, d| dut.run(p, d)).unwrap();
        let pdr = r.rate_pps.unwrap();
        assert!(pdr >= 0.9e6, "pdr {pdr} below the passes it knew");
        assert!(r.trials.iter().all(|t| t.target_pps > 0.9e6 || t.reused));
    }

    #[test]
    fn pdr_reuses_ndr_trials_and_sits_above_ndr() {
        let capacity = 2e6;
        let mut dut = SimDut::new(capacity, 100e6);
        let ndr = search(&cfg(0.0), &[], |p, d| dut.run(p, d)).unwrap();
        let before = dut.trials;
        let pdr = search(&cfg(0.005), &ndr.trials, |p, d| dut.run(p, d)).unwrap();
        let (n, p) = (ndr.rate_pps.unwrap(), pdr.rate_pps.unwrap());
        // Loss < 0.5 % up to capacity / 0.995.
        let limit = capacity / (1.0 - 0.005);
        assert!(p >= n, "pdr {p} < ndr {n}");
        assert!(p < limit && p >= limit * 0.99, "pdr {p}, limit {limit}");
        // The known bounds spared the top-rate probe and the halving.
        assert!(
            dut.trials - before < ndr.trials.len(),
            "{} PDR trials",
            dut.trials - before
        );
        assert!(pdr.trials.iter().all(|t| t.target_pps < 10e6));
    }

    #[test]
    fn a_device_faster_than_the_range_passes_at_the_top() {
        let mut dut = SimDut::new(50e6, 100e6);
        let r = search(&cfg(0.0), &[], |p, d| dut.run(p, d)).unwrap();
        assert_eq!(r.rate_pps, Some(10e6));
        assert_eq!(r.trials.len(), 1);
        assert!(!r.generator_limited);
    }

    #[test]
    fn a_slow_generator_is_reported_not_hidden() {
        // The device could do 8 Mpps, the generator only offers 4.
        let mut dut = SimDut::new(8e6, 4e6);
        let r = search(&cfg(0.0), &[], |p, d| dut.run(p, d)).unwrap();
        assert_eq!(r.rate_pps, Some(4e6));
        assert!(r.generator_limited);
        assert_eq!(r.trials.len(), 1);
        // The top trial fails (the generator kept up then), a later one
        // falls short of its target (the generator slowed down): the search
        // stops there instead of claiming rates it never offered.
        let mut dut = SimDut::new(8e6, 20e6);
        let mut calls = 0;
        let r = search(&cfg(0.0), &[], |p, d| {
            calls += 1;
            if calls == 2 {
                dut.gen_max = 4e6;
            }
            dut.run(p, d)
        })
        .unwrap();
        assert!(r.generator_limited, "{r:?}");
        assert_eq!(r.rate_pps, Some(4e6));
        assert_eq!(r.trials.len(), 2);
    }

    #[test]
    fn a_device_losing_everywhere_has_no_ndr() {
        let mut dut = SimDut::new(1_000.0, 100e6);
        let r = search(&cfg(0.0), &[], |p, d| dut.run(p, d)).unwrap();
        assert_eq!(r.rate_pps, None);
        assert_eq!(r.best, None);
        assert!(r.trials.iter().all(|t| !t.pass));
        assert!(r.trials.last().unwrap().target_pps >= 10_000.0);
    }

    #[test]
    fn noise_never_breaks_the_bounds_and_the_search_ends() {
        for seed in 0..50 {
            let mut dut = SimDut::new(3e6, 100e6);
            dut.noise = Some((SplitMix64(seed), 0.2));
            let c = SearchConfig {
                final_s: 5.0,
                ..cfg(0.0)
            };
            let r = search(&c, &[], |p, d| dut.run(p, d)).unwrap();
            assert!(r.trials.len() < 40);
            if let Some(ndr) = r.rate_pps {
                assert!(ndr <= 3e6);
                let best = &r.trials[r.best.unwrap()];
                assert!(best.pass);
                assert!(
                    (best.duration_s - 5.0).abs() < f64::EPSILON,
                    "confirmed by the long trial"
                );
            }
        }
    }

    #[test]
    fn errors_stop_the_search() {
        let mut n = 0;
        let r = search(&cfg(0.0), &[], |_p, _d| -> Result<Sim, &str> {
            n += 1;
            if n == 3 {
                Err("link down")
            } else {
                Ok(Sim {
                    offered: 10e6,
                    loss: 0.5,
                })
            }
        });
        assert_eq!(r.err(), Some("link down"));
    }
}
