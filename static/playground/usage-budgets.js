// The Usage page's budgets: each budget the viewer may see with this month's spend against its limits, a form
// to raise or lower it where they may (a team's owners, admins), a form to add one, and the banner that says
// which budgets are past their alert or used up (GET/POST/PATCH/DELETE /api/budgets).

import { call, describe } from "./api.js";
import { h } from "./dom.js";

export function createBudgets({ page, fmtMoney, onChange }) {
  const list = document.getElementById("budget-list");
  const banner = document.getElementById("budget-banner");
  const form = document.getElementById("budget-form");
  const formError = document.getElementById("budget-error");
  let budgets = [];

  const number = (text) => (text.trim() === "" ? null : Number(text.replace(",", ".")));

  function meter(label, spent, limit, alertPercent, words) {
    const share = limit > 0 ? Math.min(1, spent / limit) : 1;
    const fill = h("span", { class: "meter-fill" + (share >= 1 ? " over" : share * 100 >= alertPercent ? " alert" : "") });
    fill.style.width = `${(share * 100).toFixed(1)}%`; // through the CSSOM: the CSP refuses style attributes
    const mark = h("span", { class: "meter-alert", title: `alert at ${alertPercent}%` });
    mark.style.left = `${alertPercent}%`;
    return h("div", { class: "meter-row" }, h("span", { class: "meter-label" }, label), h("span", { class: "meter", role: "img", "aria-label": words }, fill, mark), h("span", { class: "meter-words" }, words));
  }

  function stateWords(b) {
    const resets = b.resets_at.slice(0, 10);
    if (b.state === "exceeded") return `used up: new sessions refused until ${resets}`;
    if (b.state === "alert") return `${b.used_percent}% used: past its alert at ${b.alert_percent}%`;
    return `${b.used_percent}% used · alert at ${b.alert_percent}% · resets ${resets}`;
  }

  function editor(b) {
    const cost = h("input", { name: "cost_limit", inputmode: "decimal", value: b.cost_limit ?? "", "aria-label": `Cost limit of ${b.scope}` });
    const audio = h("input", { name: "audio_minutes_limit", inputmode: "decimal", value: b.audio_minutes_limit ?? "", "aria-label": `Audio minutes of ${b.scope}` });
    const alertAt = h("input", { name: "alert_percent", inputmode: "numeric", value: b.alert_percent, "aria-label": `Alert percent of ${b.scope}` });
    const error = h("p", { class: "error", role: "alert", hidden: true });
    const remove = h("button", { type: "button", class: "link" }, "Delete");
    const edit = h(
      "form",
      { class: "budget-edit", novalidate: true },
      h("label", {}, `Cost, ${b.currency}`, cost),
      h("label", {}, "Audio min", audio),
      h("label", {}, "Alert %", alertAt),
      h("button", { type: "submit" }, "Save"),
      remove,
      error,
    );
    edit.addEventListener("submit", async (e) => {
      e.preventDefault();
      error.hidden = true;
      try {
        await call("PATCH", `/budgets/${b.id}`, {
          cost_limit: number(cost.value),
          audio_minutes_limit: number(audio.value),
          alert_percent: number(alertAt.value),
        });
        await refresh();
        onChange();
      } catch (err) {
        error.textContent = describe(err);
        error.hidden = false;
      }
    });
    let armed = false; // two clicks: no confirm() dialog
    remove.addEventListener("click", async () => {
      if (!armed) {
        armed = true;
        remove.textContent = "Really delete?";
        return;
      }
      try {
        await call("DELETE", `/budgets/${b.id}`);
        await refresh();
      } catch (err) {
        error.textContent = describe(err);
        error.hidden = false;
      }
    });
    return edit;
  }

  function item(b) {
    const meters = [];
    if (b.cost_limit !== null) {
      meters.push(meter("cost", b.spent_cost, b.cost_limit, b.alert_percent, `≈${fmtMoney(b.spent_cost)} of ${fmtMoney(b.cost_limit)}`));
    }
    if (b.audio_minutes_limit !== null) {
      meters.push(meter("audio", b.spent_audio_minutes, b.audio_minutes_limit, b.alert_percent, `${b.spent_audio_minutes.toFixed(1)} of ${b.audio_minutes_limit} min`));
    }
    return h(
      "li",
      { class: `budget state-${b.state}`, "data-budget-id": b.id },
      h("div", { class: "budget-head" }, h("strong", {}, b.scope), h("span", { class: `budget-state state-${b.state}` }, stateWords(b))),
      ...meters,
      b.can_change ? editor(b) : null,
    );
  }

  function render() {
    list.replaceChildren(...(budgets.length ? budgets.map(item) : [h("li", { class: "muted" }, "No budget binds you or your teams.")]));
    const pressing = budgets.filter((b) => b.state !== "ok");
    banner.hidden = !pressing.length;
    banner.className = "budget-banner" + (pressing.some((b) => b.state === "exceeded") ? " exceeded" : "");
    banner.replaceChildren(
      ...pressing.map((b) =>
        h("p", {}, b.state === "exceeded" ? `The monthly budget of ${b.scope} is used up (≈${fmtMoney(b.spent_cost)}): new sessions it binds are refused until ${b.resets_at.slice(0, 10)}.` : `The monthly budget of ${b.scope} is ${b.used_percent}% used, past its alert at ${b.alert_percent}%.`),
      ),
    );
  }

  async function refresh() {
    try {
      budgets = await call("GET", "/budgets");
      render();
    } catch (err) {
      list.replaceChildren(h("li", { class: "error" }, "Could not load the budgets: " + describe(err)));
    }
  }

  if (form) {
    const team = form.elements.team;
    const members = document.getElementById("b-members");
    const fillMembers = () => {
      const t = page.budgetTeams.find((x) => x.id === team.value);
      members.replaceChildren(...(t ? t.members : []).map((name) => h("option", { value: name })));
    };
    team.addEventListener("change", fillMembers);
    fillMembers();
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      formError.hidden = true;
      const body = {
        team: team.value || null,
        user: form.elements.user.value.trim() || null,
        cost_limit: number(form.elements.cost_limit.value),
        audio_minutes_limit: number(form.elements.audio_minutes_limit.value),
        alert_percent: number(form.elements.alert_percent.value) ?? 80,
      };
      try {
        await call("POST", "/budgets", body);
        form.reset();
        fillMembers();
        await refresh();
      } catch (err) {
        formError.textContent = describe(err);
        formError.hidden = false;
      }
    });
  }

  return { refresh, get budgets() { return budgets; } };
}
