//! `atif-drift attribute`: each item's IST trace converted once per ATIF variant
//! (`drift::attribution::variants`: every loss applied, one loss alone, all but one, none),
//! the faithful builder run on each, and every variant's drift against the IST path measured
//! by the engine; the IST path's analyses are computed once per item. Items run in parallel,
//! and the report keeps them in order whatever the thread count. An item's stored ATIF
//! file, if any, is not used: the variants are conversions of its IST trace.

use rayon::prelude::*;

use super::Item;
use crate::convert::{ist_to_atif, ConvertOptions};
use crate::drift::attribution::{self, AttributionReport, Measured};
use crate::drift::policy::Policy;
use crate::drift::{drift_frames, drift_variants};
use crate::frame::from_atif::{self, Builder};
use crate::frame::from_ist;
use crate::mooncake as mc;
use crate::trace::{load_file, AtifTrace, LoadOptions, Trace};

/// Measure every item; `with_pr1751`: also split pr1751's drift on NAT's ATIF. `tick` is
/// called after each item.
pub fn attribute(
    items: &[Item],
    policy: &Policy,
    opts: &LoadOptions,
    with_pr1751: bool,
    tick: &(dyn Fn() + Sync),
) -> AttributionReport {
    let measured = items
        .par_iter()
        .map(|item| {
            let m = measure(item, policy, opts, with_pr1751);
            tick();
            m
        })
        .collect();
    attribution::report(measured, policy)
}

fn measure(item: &Item, policy: &Policy, opts: &LoadOptions, with_pr1751: bool) -> Measured {
    let run = || -> Result<_, String> {
        let cfg = item.profiler_config().map_err(|e| e.to_string())?;
        let ist = match load_file(&item.ist, opts).map_err(|e| e.to_string())? {
            Trace::Ist(t) => t,
            other => {
                return Err(format!(
                    "{}: attribution needs an IST trace; this is {}",
                    item.ist.display(),
                    other.kind()
                ))
            }
        };
        let ist_frame = from_ist::frame(&ist);
        let ist_sessions = mc::sessions_from_ist(&ist.requests);
        let atif_of = |keep| {
            let opts = ConvertOptions {
                agent_name: None,
                keep,
            };
            ist_to_atif(&ist, &opts)
                .map(AtifTrace::from_trajectories)
                .map_err(|(n, e)| format!("{}: request {n}: {e}", item.ist.display()))
        };
        let variants = attribution::variants()
            .into_par_iter()
            .map(|(_, keep)| {
                let atif = atif_of(keep)?;
                Ok((
                    from_atif::frame(&atif, Builder::Faithful),
                    mc::sessions_from_atif(&atif),
                ))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let pr1751 = match with_pr1751 {
            true => {
                let atif = atif_of(crate::loss::Keep::NONE)?;
                let d = drift_frames(
                    ist_frame.clone(),
                    vec![from_atif::frame(&atif, Builder::Pr1751)],
                    ist_sessions.clone(),
                    mc::sessions_from_atif(&atif),
                    &[Builder::Pr1751],
                    &cfg,
                    policy,
                    &|_| {},
                )
                .map_err(|e| e.to_string())?;
                d.into_iter().next().map(|d| d.outputs)
            }
            false => None,
        };
        let drifts = drift_variants(
            ist_frame,
            variants,
            &ist_sessions,
            Builder::Faithful,
            &cfg,
            policy,
        )
        .map_err(|e| e.to_string())?;
        Ok((drifts.into_iter().map(|d| d.outputs).collect(), pr1751))
    };
    match run() {
        Ok((variants, pr1751)) => Measured {
            item: item.name.clone(),
            variants: Ok(variants),
            pr1751,
        },
        Err(e) => Measured {
            item: item.name.clone(),
            variants: Err(e),
            pr1751: None,
        },
    }
}
