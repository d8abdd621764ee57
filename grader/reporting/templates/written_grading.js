(function () {
  "use strict";
  var page = document.getElementById("grading");
  if (!page) { return; }
  var question = page.getAttribute("data-question");
  var maximum = parseFloat(page.getAttribute("data-max"));
  var suffix = page.getAttribute("data-comment-suffix");
  var cards = Array.prototype.slice.call(document.querySelectorAll("article.card[data-sid]"));
  var filter = document.getElementById("filter");
  var message = document.getElementById("save-message");

  function field(card, name) { return card.querySelector("." + name); }

  function problem(input) {
    var text = input.value.trim();
    if (text === "") { return ""; }
    var value = Number(text.replace(",", "."));
    if (!isFinite(value) || value < 0) { return "not a score between 0 and " + maximum; }
    if (value > maximum) { return "more than the rubric's " + maximum + " points"; }
    return "";
  }

  function check(card) {
    var input = field(card, "score-input");
    var why = problem(input);
    input.setCustomValidity(why);
    input.classList.toggle("invalid", why !== "");
    field(card, "score-problem").textContent = why;
    card.setAttribute("data-graded", input.value.trim() !== "" && why === "" ? "yes" : "no");
    return why;
  }

  function refresh() {
    var shown = filter.value;
    var graded = 0;
    cards.forEach(function (card) {
      check(card);
      var isGraded = card.getAttribute("data-graded") === "yes";
      var answered = card.getAttribute("data-status") === "answered";
      graded += isGraded ? 1 : 0;
      card.hidden = (shown === "ungraded" && isGraded) || (shown === "unanswered" && answered);
    });
    document.getElementById("graded-count").textContent = graded + " of " + cards.length + " graded";
  }

  function cell(text) {
    text = String(text).replace(/[\r\n\t]+/g, " ");
    if (/^[=+\-@]/.test(text)) { text = "'" + text; }
    return /[",;]/.test(text) ? "\"" + text.replace(/"/g, "\"\"") + "\"" : text;
  }

  function save() {
    var bad = cards.filter(function (card) { return check(card) !== ""; });
    if (bad.length) {
      message.textContent = "Not saved: " + bad.length + " score(s) out of range, marked in red.";
      field(bad[0], "score-input").focus();
      return;
    }
    var lines = [["student_id", question, question + suffix].join(",")];
    cards.forEach(function (card) {
      var score = field(card, "score-input").value.trim().replace(",", ".");
      var comment = field(card, "comment-input").value.trim();
      if (score !== "" || comment !== "") {
        lines.push([cell(card.getAttribute("data-sid")), score, cell(comment)].join(","));
      }
    });
    var blob = new Blob([lines.join("\n") + "\n"], {type: "text/csv"});
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "manual-scores-" + question + ".csv";
    document.body.appendChild(link);
    link.click();
    link.remove();
    message.textContent = "Saved " + (lines.length - 1) + " row(s) as " + link.download +
      "; merge it with make grade MANUAL_SCORES=<file>.";
  }

  cards.forEach(function (card) {
    field(card, "score-input").addEventListener("input", refresh);
  });
  filter.addEventListener("change", refresh);
  document.getElementById("save").addEventListener("click", save);
  page.hidden = false;
  refresh();
}());
