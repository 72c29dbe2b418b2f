// Decide without leaving the page: the decision form posts as a plain form when this script
// does not run; here it is sent with fetch and the outcome is shown in the card.
"use strict";

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.classList.contains("decide")) return;
  event.preventDefault();
  const submitter = event.submitter;
  const body = new URLSearchParams(new FormData(form));
  if (submitter && submitter.name) body.set(submitter.name, submitter.value);
  const outcome = form.querySelector(".outcome");
  const controls = form.querySelectorAll("button, textarea");
  controls.forEach((control) => { control.disabled = true; });
  outcome.removeAttribute("data-accepted");
  outcome.textContent = "Sending…";
  let answer;
  try {
    const response = await fetch(form.action, {
      method: "POST",
      body,
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    answer = await response.json();
  } catch (error) {
    answer = { accepted: false, message: "The inbox did not answer; nothing was sent. Try again." };
  }
  outcome.textContent = answer.message;
  outcome.dataset.accepted = answer.accepted ? "yes" : "no";
  if (answer.accepted) {
    form.closest(".card").classList.add("done");
  } else {
    controls.forEach((control) => { control.disabled = false; });
  }
});
