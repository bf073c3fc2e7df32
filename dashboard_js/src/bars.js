// Sizes the bars behind table labels (and the realtime minute columns) from data-share: CSP
// forbids style attributes, but setting a style property from a script is allowed.

import { SHARE_ATTR, SHARE_DIM_ATTR } from "./constants.js";
import { sharePercent } from "./format.js";

export function applyShares(root = document) {
  for (const bar of root.querySelectorAll(`[${SHARE_ATTR}]`)) {
    const dim = bar.getAttribute(SHARE_DIM_ATTR) === "height" ? "height" : "width";
    bar.style[dim] = sharePercent(bar.getAttribute(SHARE_ATTR));
  }
}
